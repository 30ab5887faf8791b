/*
 * Checks the float kernel's vector path (NEON on aarch64; whatever
 * apalu_eval_range uses elsewhere) against the scalar formula
 * (apalu_value, the same math one element at a time) and the float64
 * definition, on special values (0, -0, denormals, +-inf, NaN, the clamp at
 * -87, huge magnitudes) and random ones, with scalar and per-channel slopes.
 *
 *     f(x) = a (x + x sigmoid(1.702 x))   for x >= 0
 *     f(x) = b (exp(x) - 1)               for x <  0
 *
 * Usage: apalu_neon_check           (prints a summary; exit 1 on failure)
 *        apalu_neon_check --bench PASSES [ELEMENTS [SCALAR]]
 *            times PASSES passes over ELEMENTS (default 2^20) elements with
 *            the vector path, then (if SCALAR, default 1) the scalar loop
 * Built and run under qemu-aarch64 by tests/tflite/test_neon.py.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apalu_core.h"

static void quiet(void* user, const char* format, ...) {
  (void)user;
  (void)format;
}

static float random_float(unsigned* state) {
  *state = *state * 1664525u + 1013904223u;
  return ((float)(*state >> 8) / 16777216.0f) * 2.0f - 1.0f;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char** argv) {
  enum { CHANNELS = 7, ROWS = 4096 };
  const int n = CHANNELS * ROWS;
  float* x = (float*)malloc(sizeof(float) * n);
  float* out = (float*)malloc(sizeof(float) * n);
  float a[CHANNELS], b[CHANNELS];
  unsigned state = 12345u;
  for (int c = 0; c < CHANNELS; ++c) {
    a[c] = 0.1f + 1.5f * fabsf(random_float(&state));
    b[c] = 0.1f + 1.5f * fabsf(random_float(&state));
  }
  const float specials[] = {0.0f, -0.0f, 1e-40f, -1e-40f, INFINITY,
                            -INFINITY, NAN, -87.0f, -87.5f, -100.0f, 88.0f,
                            1e30f, -1e30f, 3.4e38f, -3.4e38f, 1e-7f, -1e-7f,
                            51.1f, -51.1f, 0.5f, -0.5f};
  const int n_special = (int)(sizeof specials / sizeof specials[0]);
  for (int i = 0; i < n; ++i) {
    const float scale = (i % 3 == 0) ? 1.0f : (i % 3 == 1 ? 10.0f : 60.0f);
    x[i] = i < n_special * 8 ? specials[i % n_special]
                             : scale * random_float(&state);
  }
  const ApaluReporter reporter = {quiet, NULL};
  const int x_dims[2] = {ROWS, CHANNELS}, per_channel[1] = {CHANNELS},
            scalar[1] = {1};
  if (argc >= 3 && strcmp(argv[1], "--bench") == 0) {
    const int passes = atoi(argv[2]);
    const int big = argc >= 4 ? atoi(argv[3]) : 1 << 20;
    const int scalar_loop = argc >= 5 ? atoi(argv[4]) : 1;
    float* xb = (float*)malloc(sizeof(float) * big);
    float* ob = (float*)malloc(sizeof(float) * big);
    for (int i = 0; i < big; ++i) xb[i] = 6.0f * random_float(&state);
    const int dims[1] = {big};
    const ApaluShape xs = {1, dims}, ss = {1, scalar};
    ApaluPlan plan;
    apalu_plan_broadcast(&reporter, xs, ss, ss, &plan);
    double t0 = now();
    for (int p = 0; p < passes; ++p) {
      apalu_eval_range(&plan, xb, a, b, ob, 0, big);
    }
    double t1 = now();
    for (int p = 0; p < passes * scalar_loop; ++p) {
      for (int i = 0; i < big; ++i) ob[i] = apalu_value(xb[i], a[0], b[0]);
    }
    double t2 = now();
    printf("apalu_neon_check: bench %d x %d elements: vector path %.2f "
           "ns/element, scalar loop %.2f ns/element\n", passes, big,
           1e9 * (t1 - t0) / ((double)passes * big),
           1e9 * (t2 - t1) / ((double)passes * big));
    return 0;
  }
  int failures = 0, checked = 0;
  double worst_ref = 0.0, worst_scalar = 0.0;
  for (int layout = 0; layout < 2; ++layout) {
    const ApaluShape xs = {2, x_dims};
    const ApaluShape ps = {1, layout ? per_channel : scalar};
    ApaluPlan plan;
    if (apalu_plan_broadcast(&reporter, xs, ps, ps, &plan) != 0) return 1;
    /* Odd split points: vector bodies and scalar tails at every offset. */
    const int64_t cuts[] = {0, 1, 6, 13, 4099, (int64_t)n};
    for (int c = 0; c + 1 < 6; ++c) {
      apalu_eval_range(&plan, x, a, b, out, cuts[c], cuts[c + 1]);
    }
    for (int i = 0; i < n; ++i) {
      const int ch = layout ? i % CHANNELS : 0;
      const float s = apalu_value(x[i], a[ch], b[ch]);
      const double ref = apalu_value_double((double)x[i], a[ch], b[ch]);
      const float v = out[i];
      int bad;
      if (isnan(ref) || isnan(s)) {
        bad = !isnan(v);
      } else if (isinf(ref) || fabs(ref) > 3.4e38) {
        bad = !(v == s || (isinf(v) && isinf(s) && (v > 0) == (s > 0)));
      } else {
        const double err = fabs(v - ref) / (fabs(ref) + 1e-30);
        const double diff = fabs((double)v - s) / (fabs((double)s) + 1e-30);
        bad = fabs(v - ref) > 2e-6 * fabs(ref) + 1e-6 * (fabs(ref) < 1) ||
              fabs((double)v - s) > 1e-6 * fabs((double)s) + 1e-37;
        if (fabs(ref) > 1e-30 && err > worst_ref) worst_ref = err;
        if (fabs(s) > 1e-30 && diff > worst_scalar) worst_scalar = diff;
      }
      if (bad && failures < 10) {
        printf("FAIL x=%.9g a=%.9g b=%.9g: vector %.9g scalar %.9g "
               "float64 %.9g\n", x[i], a[ch], b[ch], v, s, ref);
      }
      failures += bad;
      ++checked;
    }
  }
  printf("apalu_neon_check: %d values, %d failures; max relative error "
         "%.3g vs float64, %.3g vs the scalar path; pointer size %d\n",
         checked, failures, worst_ref, worst_scalar, (int)sizeof(void*));
  free(x);
  free(out);
  return failures != 0;
}
