// orthomlstm kernels: the study's cubic Newton–Schulz iteration on one matrix held in cache, forward and VJP.
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

// VJP of the iteration at Gb (upstream gradient of Z_steps) given Zs[0]; Zs holds steps + 1 iterates, As steps Gram
// matrices. Replays the forward (Z_steps too if want_y), back-propagates, returns the buffer (Gb or Tb) holding dZ_0.
template <class T>
static T* ns_vjp_one(const Mat<T>& s, T* Zs, T* As, T* Gb, T* Tb, T* S, int steps, bool want_y) {
  long zs = s.zs(), as = s.as();
  for (int t = 0; t < steps; t++) {  // replay the forward, keeping every iterate and Gram matrix
    s.gram(Zs + t * zs, As + t * as);
    if (t < steps - 1 || want_y) s.step(Zs + t * zs, As + t * as, Zs + (t + 1) * zs);
  }
  for (int t = steps - 1; t >= 0; t--) {  // dZ = 1.5 G - 0.5 (G A + Z S), S = Z^T G + G^T Z
    const T *Z = Zs + t * zs, *A = As + t * as;
    // S is symmetric: the upper part of Z^T G + G^T Z as one two-pair product (4/3 of a GEMM), then mirrored
    int np = s.np, nv = np / W<T>;
    gemm2<T>(np, nv, Op<T>{Z, 1, np, Gb, np, s.m}, Op<T>{Gb, 1, np, Z, np, s.m}, S, np, 1, nullptr, 0, MIRROR);
    // dZ = 1.5 G - 0.5 (G A + Z S), again one two-pair product
    gemm2<T>(s.m, nv, Op<T>{Gb, np, 1, A, np, np}, Op<T>{Z, np, 1, S, np, np}, Tb, np, T(-0.5), Gb, T(1.5), FULL);
    std::swap(Gb, Tb);
  }
  return Gb;
}

}  // namespace om
