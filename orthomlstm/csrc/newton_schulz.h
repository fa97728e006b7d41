// orthomlstm kernels: the study's cubic Newton–Schulz iteration on one matrix held in cache, forward and VJP, and the
// read q^T NS(Z) of a square matrix with its VJP at a rank-one gradient.
// Z <- 1.5 Z - 0.5 Z (Z^T Z); the VJP of one step at G is 1.5 G - 0.5 (G A + Z S) with A = Z^T Z, S = Z^T G + G^T Z.
#pragma once
#include <utility>
#include "simd.h"

namespace om {

// One matrix: m rows, n columns, stored in cache with the columns zero-padded to np (a multiple of W). Zero columns
// stay zero through every iteration and its VJP, so padding changes nothing.
template <class T> struct Mat {
  int m, n, np;
  long zs() const { return (long)m * np; }   // size of an m x np buffer
  long as() const { return (long)np * np; }  // size of an np x np buffer
  void gram(const T* Z, T* A) const {        // A = Z^T Z
    gemm<T>(np, np / W<T>, m, Z, 1, np, Z, np, A, np, 1, nullptr, 0, MIRROR);
  }
  void step(const T* Z, const T* A, T* Zn) const {  // Zn = 1.5 Z - 0.5 Z A
    gemm<T>(m, np / W<T>, np, Z, np, 1, A, np, Zn, np, T(-0.5), Z, T(1.5), FULL);
  }
  void load(const T* x, T s, T* Z) const { pad_rows(x, m, n, np, s, Z); }  // Z = s x (padded)
  void store(const T* Z, T* y) const {
    for (int r = 0; r < m; r++) std::memcpy(y + r * n, Z + r * np, sizeof(T) * n);
  }
};
template <class T> static Mat<T> mat(int m, int n) { return Mat<T>{m, n, padded<T>(n)}; }

// Z (m x np) -> Z_steps; Zn and A are scratch. Returns the buffer holding the result (Z or Zn).
template <class T> static T* ns_forward_one(const Mat<T>& s, T* Z, T* Zn, T* A, int steps) {
  for (int t = 0; t < steps; t++) {
    s.gram(Z, A);
    s.step(Z, A, Zn);
    std::swap(Z, Zn);
  }
  return Z;
}

// Replay the forward from Zs[0] up to Zs[upto], keeping every iterate and the Gram matrices As[0 .. upto - 1].
template <class T> static void ns_replay(const Mat<T>& s, T* Zs, T* As, int upto) {
  for (int t = 0; t < upto; t++) {
    s.gram(Zs + t * s.zs(), As + t * s.as());
    s.step(Zs + t * s.zs(), As + t * s.as(), Zs + (t + 1) * s.zs());
  }
}

// Back-propagate Gb (the gradient of Z_from) through steps from - 1 .. 0, given the replayed Zs and As. Returns the
// buffer (Gb or Tb) holding dZ_0.
template <class T> static T* ns_backprop(const Mat<T>& s, const T* Zs, const T* As, T* Gb, T* Tb, T* S, int from) {
  int np = s.np, nv = np / W<T>;
  for (int t = from - 1; t >= 0; t--) {  // dZ = 1.5 G - 0.5 (G A + Z S), S = Z^T G + G^T Z
    const T *Z = Zs + t * s.zs(), *A = As + t * s.as();
    // S is symmetric: the upper part of Z^T G + G^T Z as one two-pair product (4/3 of a GEMM), then mirrored
    gemm2<T>(np, nv, Op<T>{Z, 1, np, Gb, np, s.m}, Op<T>{Gb, 1, np, Z, np, s.m}, S, np, 1, nullptr, 0, MIRROR);
    // dZ = 1.5 G - 0.5 (G A + Z S), again one two-pair product
    gemm2<T>(s.m, nv, Op<T>{Gb, np, 1, A, np, np}, Op<T>{Z, np, 1, S, np, np}, Tb, np, T(-0.5), Gb, T(1.5), FULL);
    std::swap(Gb, Tb);
  }
  return Gb;
}

// VJP of the iteration at Gb (upstream gradient of Z_steps) given Zs[0]; Zs holds steps + 1 iterates, As steps Gram
// matrices. Replays the forward (Z_steps too if want_y), back-propagates, returns the buffer (Gb or Tb) holding dZ_0.
template <class T>
static T* ns_vjp_one(const Mat<T>& s, T* Zs, T* As, T* Gb, T* Tb, T* S, int steps, bool want_y) {
  if (steps == 0) return Gb;
  ns_replay(s, Zs, As, steps - 1);
  s.gram(Zs + (steps - 1) * s.zs(), As + (steps - 1) * s.as());
  if (want_y) s.step(Zs + (steps - 1) * s.zs(), As + (steps - 1) * s.as(), Zs + steps * s.zs());
  return ns_backprop(s, Zs, As, Gb, Tb, S, steps);
}

// ---- The read q^T NS(Z) of a square d x d matrix, and its VJP at a rank-one upstream gradient q dn^T ----
// The last L iterations never need a d x d product. Forward: q^T Z_{i+1} = q^T Z_i p(A_i), p(A) = 1.5 - 0.5 A, and
// A_{i+1} = A_i p(A_i)^2, so from the dense Z_j (j = steps - L) the row q^T Z_j is carried through the last L
// iterations by (3^L - 1) products of a row with Z_j or Z_j^T. Backward: the gradient of Z_steps, q dn^T, has rank
// one, and one step of the VJP maps a rank-r gradient U V^T to rank 3r: with P = Z^T U,
//   dZ = U (1.5 V - 0.5 A V)^T + (Z P) (-0.5 V)^T + (Z V) (-0.5 P)^T,
// four products of r rows with Z or Z^T. By default (levels < 0) L is the largest count with 3^L <= d, at least 1:
// the factors stay thinner than the matrix; levels >= 0 asks for min(levels, steps) (0: every iteration dense).
// Vectors are rows of np entries (zero from d on).
static inline int read_levels(int d, int steps, int levels) {
  if (levels >= 0) return levels < steps ? levels : steps;
  int L = 0;
  for (long r = 3; L < steps && r <= d; r *= 3) L++;
  return steps > 0 && L == 0 ? 1 : L;
}
template <class T> static void rows_times(const Mat<T>& s, int r, const T* x, const T* B, T* out) {  // out = x B
  gemm<T>(r, s.np / W<T>, s.m, x, s.np, 1, B, s.np, out, s.np, 1, nullptr, 0, FULL);
}
template <class T> static void transpose(const Mat<T>& s, const T* Z, T* Zt) {  // Zt = Z^T (square, padded)
  for (int j = 0; j < s.m; j++) {
    for (int i = 0; i < s.m; i++) Zt[j * s.np + i] = Z[i * s.np + j];
    for (int i = s.m; i < s.np; i++) Zt[j * s.np + i] = 0;
  }
}

// Rows times A_i = Z_i^T Z_i (i >= j) through the dense Z_j and Zt = Z_j^T; buf holds 4 rows per level.
template <class T> struct Gram {
  const Mat<T>& s;
  const T *Z, *Zt;
  int j;
  T* buf;
  void A(int i, const T* x, T* y) const {  // y = x A_i (y must not alias x)
    T* b = buf + 4L * (i - j) * s.np;
    if (i == j) {
      rows_times(s, 1, x, Zt, b);
      rows_times(s, 1, b, Z, y);
      return;
    }
    P(i - 1, x, b + s.np);  // A_i = p(A_{i-1}) A_{i-1} p(A_{i-1})
    A(i - 1, b + s.np, b + 2 * s.np);
    P(i - 1, b + 2 * s.np, y);
  }
  void P(int i, const T* x, T* y) const {  // y = x p(A_i) = 1.5 x - 0.5 x A_i (y may alias x)
    T* t = buf + (4L * (i - j) + 3) * s.np;
    A(i, x, t);
    for (int c = 0; c < s.np; c++) y[c] = T(1.5) * x[c] - T(0.5) * t[c];
  }
};
// Rows of scratch the read needs beyond its matrices: q, w, and 4 per vector level; and the factors' rows.
template <class T> static long read_rows(int d, int steps, int levels) {
  long L = read_levels(d, steps, levels), r = 1;
  for (int l = 0; l < L; l++) r *= 3;
  return 2 + 4 * L + 2 * r + r / 3 + 3;
}

// num (d) = q^T NS_steps(Z) for the normalised memory in Z; Zn, A, Zt: matrix scratch; vec: read_rows rows.
template <class T>
static void ns_read_forward_one(const Mat<T>& s, T* Z, T* Zn, T* A, T* Zt, T* vec, const T* q, T* num, int steps,
                                int levels) {
  int L = read_levels(s.m, steps, levels), j = steps - L, np = s.np;
  const T* Zj = ns_forward_one(s, Z, Zn, A, j);
  transpose(s, Zj, Zt);
  T *qp = vec, *w = vec + np;
  pad_rows(q, 1, s.m, np, T(1), qp);
  rows_times(s, 1, qp, Zj, w);  // w = q^T Z_j
  Gram<T> g{s, Zj, Zt, j, w + np};
  for (int i = j; i < steps; i++) g.P(i, w, w);
  for (int c = 0; c < s.m; c++) num[c] = w[c];
}

// VJP of num = q^T NS_steps(Z_0) at dn: fills dq (d) and returns the buffer (Gb or Tb) holding dZ_0. Zs holds Z_0 and
// room for steps iterates, As steps Gram matrices; Gb, Tb, S, Zt: matrix scratch; vec: read_rows rows.
template <class T>
static T* ns_read_vjp_one(const Mat<T>& s, T* Zs, T* As, T* Gb, T* Tb, T* S, T* Zt, T* vec, const T* q,
                          const T* dn, T* dq, int steps, int levels) {
  int L = read_levels(s.m, steps, levels), np = s.np, nv = np / W<T>;
  long zs = s.zs(), rmax = 1;
  for (int l = 0; l < L; l++) rmax *= 3;
  T *U = vec, *V = U + rmax * np, *AV = V + rmax * np, *x = AV + (rmax / 3 + 1) * np, *y = x + np, *z = y + np;
  if (steps > 0) ns_replay(s, Zs, As, steps - 1);  // Z_0 .. Z_{steps-1}
  if (steps > 0 && L == 0) s.gram(Zs + (steps - 1) * zs, As + (steps - 1) * s.as());  // all dense
  pad_rows(q, 1, s.m, np, T(1), U);
  pad_rows(dn, 1, s.m, np, T(1), V);
  const T* Zl = Zs + (steps > 0 ? steps - 1 : 0) * zs;
  transpose(s, Zl, Zt);
  rows_times(s, 1, V, Zt, x);  // x = (Z dn)^T
  if (steps == 0) {
    for (int c = 0; c < s.m; c++) dq[c] = x[c];
  } else {  // dq = Z_steps dn = 1.5 Z dn - 0.5 Z Z^T Z dn, Z = Z_{steps-1}
    rows_times(s, 1, x, Zl, y);
    rows_times(s, 1, y, Zt, z);
    for (int c = 0; c < s.m; c++) dq[c] = T(1.5) * x[c] - T(0.5) * z[c];
  }
  int r = 1;
  for (int t = steps - 1; t >= steps - L; t--, r *= 3) {  // U V^T -> [U, Z P, Z V] [1.5 V - 0.5 A V, -0.5 V, -0.5 P]^T
    const T* Z = Zs + t * zs;
    if (t < steps - 1) transpose(s, Z, Zt);
    rows_times(s, r, V, Zt, U + 2 * r * np);        // (Z V)^T
    rows_times(s, r, U, Z, V + 2 * r * np);         // P^T = (Z^T U)^T
    rows_times(s, r, V + 2 * r * np, Zt, U + r * np);  // (Z P)^T
    rows_times(s, r, U + 2 * r * np, Z, AV);         // (A V)^T = (Z^T Z V)^T
    for (long c = 0; c < r * np; c++) {
      V[r * np + c] = T(-0.5) * V[c];
      V[c] = T(1.5) * V[c] - T(0.5) * AV[c];
      V[2 * r * np + c] *= T(-0.5);
    }
  }
  // the gradient of Z_{steps-L} as a matrix: U^T V (r x d rows each), then the remaining steps densely
  gemm<T>(s.m, nv, r, U, 1, np, V, np, Gb, np, 1, nullptr, 0, FULL);
  return ns_backprop(s, Zs, As, Gb, Tb, S, steps - L);
}

}  // namespace om
