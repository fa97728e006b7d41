// orthomlstm kernels: the chunkwise scan's orthogonalized read, fused. For a group of `sl` steps that share a start
// memory C0, num_t = q_t^T NS(C_t / max(|C_t|_F, eps)), C_t = a_t C0 + sum_u W[t, u] k_u v_u^T (k: rows of C,
// v: columns), with C_t formed, normalised, orthogonalized and read in cache one step at a time (the last
// iterations on vectors, newton_schulz.h); the backward recomputes each C_t and replays its iteration.
// Layouts: W (G, sl, sl), a (G, sl), C0 (G, d, d), q, k, v, num (G, sl, d).
#include <cmath>
#include "newton_schulz.h"

namespace om {

template <class T> struct Group {
  Mat<T> s;   // d x d memories, padded to d x np
  int sl, sp; // steps per group, and padded to a multiple of W
  // C = a_t C0 + sum_u W[t,u] k_u v_u^T into C (d x np), via kw (sl x d) = W[t,:] * k; vp: v padded (sl x np)
  void form(const T* Wt, T at, const T* k, const T* vp, const T* C0p, T* kw, T* C) const {
    for (int u = 0; u < sl; u++)
      for (int i = 0; i < s.m; i++) kw[u * s.m + i] = Wt[u] * k[u * s.m + i];
    gemm<T>(s.m, s.np / W<T>, sl, kw, 1, s.m, vp, s.np, C, s.np, 1, C0p, at, FULL);
  }
  T norm(const T* C) const { return std::sqrt(dot(C, C, s.zs())); }
};

template <class T>
static void ortho_read_forward(const T* Wg, const T* a, const T* C0, const T* q, const T* k, const T* v, T* num,
                               long long G, int sl, int d, int steps, int levels, T eps,
                               int nthreads) {
  Group<T> g{mat<T>(d, d), sl, padded<T>(sl)};
  const Mat<T>& s = g.s;
  long zs = s.zs(), as = s.as();
  parallel(G, nthreads, [&](long long gi) {
    long vr = read_rows<T>(d, steps, levels) * s.np;
    T* C0p = scratch<T>().get(4 * zs + as + sl * s.np + sl * d + zs + vr);
    T *vp = C0p + zs, *kw = vp + sl * s.np, *Z = kw + sl * d, *Zn = Z + zs, *A = Zn + zs, *Zt = A + as, *vec = Zt + zs;
    pad_rows(C0 + gi * d * d, d, d, s.np, T(1), C0p);
    pad_rows(v + gi * sl * d, sl, d, s.np, T(1), vp);
    const T *kg = k + gi * sl * d, *qg = q + gi * sl * d, *Wt = Wg + gi * sl * sl;
    for (int t = 0; t < sl; t++) {
      g.form(Wt + t * sl, a[gi * sl + t], kg, vp, C0p, kw, Z);
      T r = g.norm(Z), sc = T(1) / (r > eps ? r : eps);
      for (long j = 0; j < zs; j++) Z[j] *= sc;
      ns_read_forward_one(s, Z, Zn, A, Zt, vec, qg + t * d, num + (gi * sl + t) * d, steps, levels);
    }
  });
}

template <class T>
static void ortho_read_backward(const T* Wg, const T* a, const T* C0, const T* q, const T* k, const T* v,
                                const T* dnum, T* dW, T* da, T* dC0, T* dq, T* dk, T* dv, long long G, int sl, int d,
                                int steps, int levels, T eps, int nthreads) {
  Group<T> g{mat<T>(d, d), sl, padded<T>(sl)};
  const Mat<T>& s = g.s;
  const int np = s.np, sp = g.sp;
  long zs = s.zs(), as = s.as();
  parallel(G, nthreads, [&](long long gi) {
    long need = (steps + 3) * zs + (steps + 1) * as + 3 * zs + sl * np + sl * d + 2 * (long)np * sp + 2 * (long)d * sp
                + zs + read_rows<T>(d, steps, levels) * np;
    T* Zs = scratch<T>().get(need);
    T* As = Zs + (steps + 1) * zs;
    T *Gb = As + steps * as, *Tb = Gb + zs, *S = Tb + zs;   // S: as
    T *C0p = S + as, *dCs = C0p + zs, *dC0a = dCs + zs, *vp = dC0a + zs, *kw = vp + sl * np;
    T *vT = kw + sl * d, *kT = vT + (long)np * sp, *X = kT + (long)np * sp, *Zk = X + (long)d * sp;
    T *Zt = Zk + (long)d * sp, *vec = Zt + zs;
    pad_rows(C0 + gi * d * d, d, d, np, T(1), C0p);
    pad_rows(v + gi * sl * d, sl, d, np, T(1), vp);
    const T *kg = k + gi * sl * d, *vg = v + gi * sl * d, *qg = q + gi * sl * d, *Wt = Wg + gi * sl * sl;
    for (long j = 0; j < (long)np * sp; j++) vT[j] = kT[j] = 0;   // transposed, zero-padded v and k (np x sp)
    for (int u = 0; u < sl; u++)
      for (int i = 0; i < d; i++) { vT[i * sp + u] = vg[u * d + i]; kT[i * sp + u] = kg[u * d + i]; }
    for (long j = 0; j < zs; j++) dC0a[j] = 0;
    T* dkg = dk + gi * sl * d; T* dvg = dv + gi * sl * d;
    for (int j = 0; j < sl * d; j++) dkg[j] = dvg[j] = 0;
    for (int t = 0; t < sl; t++) {
      T at = a[gi * sl + t];
      g.form(Wt + t * sl, at, kg, vp, C0p, kw, Zs);
      T r = g.norm(Zs), sc = T(1) / (r > eps ? r : eps), w = r > eps ? sc : T(0);
      for (long j = 0; j < zs; j++) Zs[j] *= sc;
      const T *qt = qg + t * d, *dn = dnum + (gi * sl + t) * d;
      T* dZ = ns_read_vjp_one(s, Zs, As, Gb, Tb, S, Zt, vec, qt, dn, dq + (gi * sl + t) * d, steps, levels);
      T coef = dot(dZ, Zs, zs) * w;    // dC_t = sc dZ_0 - w <dZ_0, Z_0> Z_0
      for (long j = 0; j < zs; j++) dCs[j] = sc * dZ[j] - coef * Zs[j];
      da[gi * sl + t] = dot(dCs, C0p, zs);
      for (long j = 0; j < zs; j++) dC0a[j] += at * dCs[j];
      // X = dC vT (d x sp): X[i,u] = (dC_t v_u)_i;  Zk = dC^T kT (d x sp): Zk[j,u] = (dC_t^T k_u)_j
      gemm<T>(d, sp / W<T>, np, dCs, np, 1, vT, sp, X, sp, 1, nullptr, 0, FULL);
      gemm<T>(d, sp / W<T>, d, dCs, 1, np, kT, sp, Zk, sp, 1, nullptr, 0, FULL);
      const T* Wr = Wt + t * sl;
      T* dWt = dW + (gi * sl + t) * sl;
      for (int u = 0; u < sl; u++) {
        T acc = 0, wu = Wr[u];
        for (int i = 0; i < d; i++) {
          acc += kg[u * d + i] * X[i * sp + u];
          dkg[u * d + i] += wu * X[i * sp + u];
          dvg[u * d + i] += wu * Zk[i * sp + u];
        }
        dWt[u] = acc;
      }
    }
    for (int i = 0; i < d; i++) std::memcpy(dC0 + gi * d * d + i * d, dC0a + i * np, sizeof(T) * d);
  });
}

}  // namespace om

extern "C" {
// The chunkwise scan's fused orthogonalized read (cubic NS, eps as in newton_schulz), forward and backward; `levels`
// iterations (the last ones) are carried as vectors and thin factors, a negative value picks the count (read_levels).
void ortho_read_forward_f32(const float* W, const float* a, const float* C0, const float* q, const float* k,
                            const float* v, float* num, long long G, int sl, int d, int steps, int levels, float eps,
                            int nt) {
  om::ortho_read_forward<float>(W, a, C0, q, k, v, num, G, sl, d, steps, levels, eps, nt);
}
void ortho_read_forward_f64(const double* W, const double* a, const double* C0, const double* q, const double* k,
                            const double* v, double* num, long long G, int sl, int d, int steps, int levels,
                            double eps, int nt) {
  om::ortho_read_forward<double>(W, a, C0, q, k, v, num, G, sl, d, steps, levels, eps, nt);
}
void ortho_read_backward_f32(const float* W, const float* a, const float* C0, const float* q, const float* k,
                             const float* v, const float* dnum, float* dW, float* da, float* dC0, float* dq, float* dk,
                             float* dv, long long G, int sl, int d, int steps, int levels, float eps, int nt) {
  om::ortho_read_backward<float>(W, a, C0, q, k, v, dnum, dW, da, dC0, dq, dk, dv, G, sl, d, steps, levels, eps, nt);
}
void ortho_read_backward_f64(const double* W, const double* a, const double* C0, const double* q, const double* k,
                             const double* v, const double* dnum, double* dW, double* da, double* dC0, double* dq,
                             double* dk, double* dv, long long G, int sl, int d, int steps, int levels, double eps,
                             int nt) {
  om::ortho_read_backward<double>(W, a, C0, q, k, v, dnum, dW, da, dC0, dq, dk, dv, G, sl, d, steps, levels, eps, nt);
}
}
