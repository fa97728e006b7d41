// orthomlstm kernels: batched cubic Newton–Schulz (forward and VJP) for many small matrices, one matrix at a time
// in cache, on std::thread workers; plus the build's description and a measured FMA peak.
#include <chrono>
#include <cmath>
#include "newton_schulz.h"

namespace om {

template <class T>
static void forward(const T* X, const T* scale, T* Y, long long N, int m, int n, int steps, int nthreads) {
  Mat<T> s = mat<T>(m, n);
  parallel(N, nthreads, [&](long long i) {
    T* Z = scratch<T>().get(2 * s.zs() + s.as());
    s.load(X + i * m * n, scale[i], Z);
    s.store(ns_forward_one(s, Z, Z + s.zs(), Z + 2 * s.zs(), steps), Y + i * m * n);
  });
}

template <class T>
static void vjp(const T* X, const T* G, const T* scale, const T* w, T* dX, T* Y, long long N, int m, int n, int steps,
                int nthreads) {
  Mat<T> s = mat<T>(m, n);
  long zs = s.zs(), as = s.as();
  parallel(N, nthreads, [&](long long i) {
    T* Zs = scratch<T>().get((steps + 3) * zs + (steps + 1) * as);  // Z_0 .. Z_steps, A_0 .. A_{steps-1}, G, T, S
    T* As = Zs + (steps + 1) * zs;
    T *Gb = As + steps * as, *Tb = Gb + zs, *S = Tb + zs;
    s.load(X + i * m * n, scale[i], Zs);
    s.load(G + i * m * n, 1, Gb);
    T* dZ = ns_vjp_one(s, Zs, As, Gb, Tb, S, steps, Y != nullptr);
    if (Y) s.store(Zs + steps * zs, Y + i * m * n);
    T coef = dot(dZ, Zs, zs) * w[i], sc = scale[i];  // back through Z_0 = X / max(|X|_F, eps): dX = s G - w <G, Z_0> Z_0
    T* d = dX + i * m * n;
    for (int r = 0; r < m; r++)
      for (int j = 0; j < n; j++) d[r * n + j] = sc * dZ[r * s.np + j] - coef * Zs[r * s.np + j];
  });
}

}  // namespace om

extern "C" {
// Y[i] = NS_steps(scale[i] * X[i]) for N contiguous m x n matrices (m >= n for speed; any m, n work).
void ns_cubic_forward_f32(const float* X, const float* scale, float* Y, long long N, int m, int n, int steps, int nt) {
  om::forward<float>(X, scale, Y, N, m, n, steps, nt);
}
void ns_cubic_forward_f64(const double* X, const double* scale, double* Y, long long N, int m, int n, int steps,
                          int nt) {
  om::forward<double>(X, scale, Y, N, m, n, steps, nt);
}
// dX[i] = VJP at G[i] of X -> NS_steps(X * scale(X)), with scale[i] = 1 / max(|X_i|_F, eps) and w[i] the weight of
// the radial term (scale[i] where the norm is above eps, else 0). If Y is not null the forward output is written too.
void ns_cubic_vjp_f32(const float* X, const float* G, const float* scale, const float* w, float* dX, float* Y,
                      long long N, int m, int n, int steps, int nt) {
  om::vjp<float>(X, G, scale, w, dX, Y, N, m, n, steps, nt);
}
void ns_cubic_vjp_f64(const double* X, const double* G, const double* scale, const double* w, double* dX, double* Y,
                      long long N, int m, int n, int steps, int nt) {
  om::vjp<double>(X, G, scale, w, dX, Y, N, m, n, steps, nt);
}
// What this build is: instruction set, vector bytes, tile rows and vectors. Returns the ISA name.
const char* om_build_info(int* out) {
  out[0] = om::VB;
  out[1] = om::TR;
  out[2] = om::TV;
  return OM_ISA;
}
// Share of a full product the symmetric Gram product computes at n columns (for counting executed flops).
double om_gram_fraction(int n, int f64) { return f64 ? om::gram_fraction<double>(n) : om::gram_fraction<float>(n); }
// Measured fp32 multiply-add throughput of this build (GFLOP/s) on nt threads: 10 independent vector chains per
// thread, which fit the register file of every target above.
double om_fma_peak_gflops(long long iters, int nt) {
  auto t0 = std::chrono::steady_clock::now();
  std::atomic<double> sink(0);
  constexpr int K = 10;
  om::parallel(nt, nt, [&](long long) {
    typedef om::V<float>::v v;
    v acc[K], x = (v){} + 0.999999f, y = (v){} + 1e-7f;
    for (int j = 0; j < K; j++) acc[j] = (v){} + (float)j;
    for (long long it = 0; it < iters; it++)
      for (int j = 0; j < K; j++) acc[j] = acc[j] * x + y;
    float s = 0;
    for (int j = 0; j < K; j++) s += acc[j][0];
    double cur = sink.load();
    while (!sink.compare_exchange_weak(cur, cur + s)) {}
  });
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return 2.0 * om::W<float> * K * iters * nt / sec / 1e9 + 0 * sink.load();
}
}
