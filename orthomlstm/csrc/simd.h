// orthomlstm kernels: the vector type, the register tile and the small GEMM they build, chosen per instruction set.
//
// Plain C++17 with GCC/Clang vector extensions (no intrinsics). The vector width and the register tile come from the
// compiler's target macros, so one source builds well for every target:
//
//   target                      vector   fp32 lanes  registers  tile (rows x vectors)  accumulators
//   AVX-512 (x86-64-v4)         64 B     16          32         8 x 3                  24
//   AVX2 + FMA (x86-64-v3)      32 B      8          16         6 x 2                  12
//   aarch64 NEON                16 B      4          32         8 x 3                  24
//   anything else (SSE2, ...)   16 B      4          16         6 x 2                  12
//
// A tile needs rows*vectors accumulators, `vectors` registers for the row of B and one for the broadcast element of
// A (plus one for the product where there is no fused multiply-add); it must fit the register file or the compiler
// spills on every multiply-add. OM_VBYTES, OM_TR and OM_TV can be set with -D to measure other choices.
#pragma once
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#if defined(__AVX512F__)
#define OM_ISA "avx512"
#define OM_VBYTES_DEFAULT 64
#define OM_TR_DEFAULT 8
#define OM_TV_DEFAULT 3
#elif defined(__AVX2__) && defined(__FMA__)
#define OM_ISA "avx2-fma"
#define OM_VBYTES_DEFAULT 32
#define OM_TR_DEFAULT 6
#define OM_TV_DEFAULT 2
#elif defined(__AVX__)
#define OM_ISA "avx"
#define OM_VBYTES_DEFAULT 32
#define OM_TR_DEFAULT 4
#define OM_TV_DEFAULT 2
#elif defined(__aarch64__) || defined(__ARM_NEON)
#define OM_ISA "neon"
#define OM_VBYTES_DEFAULT 16
#define OM_TR_DEFAULT 8
#define OM_TV_DEFAULT 3
#else
#define OM_ISA "generic"
#define OM_VBYTES_DEFAULT 16
#define OM_TR_DEFAULT 6
#define OM_TV_DEFAULT 2
#endif
#ifndef OM_VBYTES
#define OM_VBYTES OM_VBYTES_DEFAULT
#endif
#ifndef OM_TR
#define OM_TR OM_TR_DEFAULT
#endif
#ifndef OM_TV
#define OM_TV OM_TV_DEFAULT
#endif

namespace om {

constexpr int VB = OM_VBYTES;  // bytes per vector
constexpr int TR = OM_TR;      // rows of the register tile
constexpr int TV = OM_TV;      // vectors (of W columns) of the register tile

template <class T> struct V {  // one vector of T, and an unaligned variant for loads and stores
  typedef T v __attribute__((vector_size(VB)));
  typedef T u __attribute__((vector_size(VB), aligned(sizeof(T))));
};
template <class T> constexpr int W = VB / sizeof(T);  // lanes per vector
template <class T> static inline typename V<T>::v ld(const T* p) { return *(const typename V<T>::u*)p; }
template <class T> static inline void st(T* p, typename V<T>::v x) { *(typename V<T>::u*)p = x; }
template <class T> static inline int padded(int n) { return (n + W<T> - 1) / W<T> * W<T>; }  // n rounded up to W

// One operand pair of a product: op(A)[i, k] = a[i*ai + k*ak] (a transposed operand is just other strides) times
// B[k, j] = b[k*ldb + j], for k < K. K = 0 marks an absent pair.
template <class T> struct Op {
  const T* a;
  long ai, ak;
  const T* b;
  long ldb;
  int K;
  Op at(int i0, int j) const { return Op{a + i0 * ai, ai, ak, b + j, ldb, K}; }  // the tile at row i0, column j
};

// Accumulate sum_k op(A)[r, k] B[k, W*j ..] over one operand pair into the R x NV accumulators.
template <class T, int R, int NV>
static inline void accumulate(typename V<T>::v (&acc)[R][NV], const Op<T>& p) {
  typedef typename V<T>::v v;
  for (int k = 0; k < p.K; k++) {
    v bv[NV];
    for (int j = 0; j < NV; j++) bv[j] = ld<T>(p.b + k * p.ldb + W<T> * j);
    for (int r = 0; r < R; r++) {
      T x = p.a[r * p.ai + k * p.ak];
      for (int j = 0; j < NV; j++) acc[r][j] += x * bv[j];
    }
  }
}

// Register tile: C[r, W*j ..] = alpha * (op(A) B + op(A2) B2)[r, W*j ..] + beta * C0[r, W*j ..] for R rows and NV
// vectors (the second pair only if q.K > 0); C0 may alias C. Both pairs share the accumulators, so a sum of two
// products costs one prologue and one epilogue.
template <class T, int R, int NV>
static inline void tile(const Op<T>& p, const Op<T>& q, T* c, long ldc, T alpha, const T* c0, T beta) {
  typedef typename V<T>::v v;
  v acc[R][NV];
  for (int r = 0; r < R; r++)
    for (int j = 0; j < NV; j++) acc[r][j] = (v){};
  accumulate<T, R, NV>(acc, p);
  if (q.K) accumulate<T, R, NV>(acc, q);
  for (int r = 0; r < R; r++)
    for (int j = 0; j < NV; j++) {
      v o = alpha * acc[r][j];
      if (c0) o += beta * ld<T>(c0 + r * ldc + W<T> * j);
      st<T>(c + r * ldc + W<T> * j, o);
    }
}

// A tile of R <= TR rows: dispatch a run-time row count to the compile-time tile.
template <class T, int NV, int R = TR>
static inline void tile_rows(int rows, const Op<T>& p, const Op<T>& q, T* c, long ldc, T alpha, const T* c0, T beta) {
  if constexpr (R <= 1) {
    tile<T, 1, NV>(p, q, c, ldc, alpha, c0, beta);
  } else {
    if (rows == R) tile<T, R, NV>(p, q, c, ldc, alpha, c0, beta);
    else tile_rows<T, NV, R - 1>(rows, p, q, c, ldc, alpha, c0, beta);
  }
}

// A row block of NV <= TV vectors: dispatch a run-time vector count to the compile-time tile.
template <class T, int NV = TV>
static inline void tile_block(int nvec, int rows, const Op<T>& p, const Op<T>& q, T* c, long ldc, T alpha,
                              const T* c0, T beta) {
  if constexpr (NV <= 1) {
    tile_rows<T, 1>(rows, p, q, c, ldc, alpha, c0, beta);
  } else {
    if (nvec == NV) tile_rows<T, NV>(rows, p, q, c, ldc, alpha, c0, beta);
    else tile_block<T, NV - 1>(nvec, rows, p, q, c, ldc, alpha, c0, beta);
  }
}

// C (M x W*nv, row stride ldc) = alpha * (op(A) B [+ op(A2) B2]) + beta * C0. For a square result (M == W*nv),
// sym = UPPER computes only the column vectors from the one holding the tile's first row on (about 2/3 of the work
// at 48 x 48) and sym = MIRROR then copies them to the lower part, which is right when the result is known to be
// symmetric.
enum Sym { FULL, UPPER, MIRROR };
template <class T>
static void gemm2(int M, int nv, const Op<T>& p, const Op<T>& q, T* c, long ldc, T alpha, const T* c0, T beta,
                  Sym sym) {
  for (int i0 = 0; i0 < M; i0 += TR) {
    int R = M - i0 < TR ? M - i0 : TR;
    for (int j0 = sym ? i0 / W<T> : 0; j0 < nv; j0 += TV) {
      int NV = nv - j0 < TV ? nv - j0 : TV, j = W<T> * j0;
      tile_block<T>(NV, R, p.at(i0, j), q.at(i0, j), c + i0 * ldc + j, ldc, alpha, c0 ? c0 + i0 * ldc + j : nullptr,
                    beta);
    }
  }
  if (sym == MIRROR)
    for (int i = W<T>; i < M; i++)
      for (int j = 0; j < (i / W<T>) * W<T>; j++) c[i * ldc + j] = c[j * ldc + i];
}
// C (M x W*nv, row stride ldc) = alpha * op(A) B + beta * C0, op(A)[i, k] = a[i*ai + k*ak], k < K.
template <class T>
static void gemm(int M, int nv, int K, const T* a, long ai, long ak, const T* b, long ldb, T* c, long ldc, T alpha,
                 const T* c0, T beta, Sym sym) {
  gemm2<T>(M, nv, Op<T>{a, ai, ak, b, ldb, K}, Op<T>{a, ai, ak, b, ldb, 0}, c, ldc, alpha, c0, beta, sym);
}

// Share of a full n x n product that gemm(..., UPPER or MIRROR) computes (tiles of TR rows, W-wide vectors).
template <class T> static double gram_fraction(int n) {
  int nv = padded<T>(n) / W<T>, tiles = 0, done = 0;
  for (int i0 = 0; i0 < nv * W<T>; i0 += TR) { tiles++; done += nv - i0 / W<T>; }
  return double(done) / (double(tiles) * nv);
}

// out (rows x np) = s x (rows x n), the columns from n on set to zero
template <class T> static void pad_rows(const T* x, int rows, int n, int np, T s, T* out) {
  for (int r = 0; r < rows; r++) {
    for (int j = 0; j < n; j++) out[r * np + j] = s * x[r * n + j];
    for (int j = n; j < np; j++) out[r * np + j] = 0;
  }
}

template <class T> static T dot(const T* x, const T* y, long n) {  // n is a multiple of W; 4 independent vector sums
  typedef typename V<T>::v v;
  v acc[4] = {};
  long j = 0;
  for (; j + 4 * W<T> <= n; j += 4 * W<T>)
    for (int u = 0; u < 4; u++) acc[u] += ld<T>(x + j + u * W<T>) * ld<T>(y + j + u * W<T>);
  for (; j < n; j += W<T>) acc[0] += ld<T>(x + j) * ld<T>(y + j);
  v t = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  double r = 0;
  for (int l = 0; l < W<T>; l++) r += t[l];
  return T(r);
}

template <class T> struct Scratch {  // per-thread scratch, grown on demand, freed when the thread ends
  T* p = nullptr;
  long cap = 0;
  T* get(long n) {
    if (cap < n) {
      std::free(p);
      p = (T*)std::aligned_alloc(64, ((n * sizeof(T) + 63) / 64) * 64);
      cap = n;
    }
    return p;
  }
  ~Scratch() { std::free(p); }
};
// A function-local thread_local: its destructor runs at thread exit (a thread_local variable template of class
// template type is never destroyed by g++ 12, which leaked every worker's buffer).
template <class T> static Scratch<T>& scratch() {
  static thread_local Scratch<T> s;
  return s;
}

template <class F> static void parallel(long long N, int nthreads, F f) {  // f(i) for i < N on nthreads threads
  std::atomic<long long> next(0);
  auto run = [&]() {
    for (long long i; (i = next.fetch_add(1)) < N;) f(i);
  };
  std::vector<std::thread> ts;
  for (int t = 1; t < nthreads && t < N; t++) ts.emplace_back(run);
  run();
  for (auto& t : ts) t.join();
}

}  // namespace om
