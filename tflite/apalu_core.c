/*
 * APALU's element-wise math (see apalu_core.h): no runtime types, no
 * allocation, no threads, no global state other than CPU feature flags.
 *
 * One exp per element: with t = min(x, -1.702 x) <= 0 and e = exp(t),
 *     x >= 0:  f = a * x * (1 + 1 / (1 + e))   (e = exp(-1.702 x))
 *     x <  0:  f = b * expm1(x)                 (t = x)
 * exp and expm1 share one range reduction t = k ln2 + r, |r| <= ln2/2, and one
 * polynomial q = expm1(r), so expm1(t) = (2^k - 1) + 2^k q keeps full relative
 * accuracy near 0 (k = 0 there) and the loop has no branch to vectorise.
 */

#include "apalu_core.h"

#include <math.h>
#include <string.h>

#if defined(__cplusplus) && !defined(restrict) /* also compiles as C++ */
#define restrict __restrict
#endif

#define APALU_CORE_REPORT(reporter, ...) \
  (reporter)->report((reporter)->user, __VA_ARGS__)

/* ---- the math ---------------------------------------------------------- */

#define APALU_SIGMOID_SCALE 1.702f
#define APALU_LOG2E 1.44269504088896341f
/* ln 2 split so that k * LN2_HI is exact for |k| <= 127 (Cody and Waite). */
#define APALU_LN2_HI 0.693359375f
#define APALU_LN2_LO (-2.12194440e-4f)
/* 1.5 * 2^23: adding and subtracting it rounds a float to the nearest integer. */
#define APALU_ROUNDER 12582912.0f
/* exp(-87) is still a normal float, so 2^k below never underflows. */
#define APALU_T_MIN (-87.0f)

static inline float apalu_scalar(float x, float a, float b) {
  float m = -APALU_SIGMOID_SCALE * x;
  float t = x < m ? x : m; /* min(x, -1.702 x) <= 0 */
  /* Also maps NaN to T_MIN, so the float-to-int conversion below is always
   * defined; a NaN x still gives NaN through the right side. */
  t = t > APALU_T_MIN ? t : APALU_T_MIN;
  float k = (t * APALU_LOG2E + APALU_ROUNDER) - APALU_ROUNDER;
  float r = (t - k * APALU_LN2_HI) - k * APALU_LN2_LO;
  /* expm1(r) on |r| <= ln2/2 by its Taylor series to r^7: error < 2e-8. */
  float q = 1.0f / 5040.0f;
  q = q * r + 1.0f / 720.0f;
  q = q * r + 1.0f / 120.0f;
  q = q * r + 1.0f / 24.0f;
  q = q * r + 1.0f / 6.0f;
  q = q * r + 0.5f;
  q = (q * r) * r + r;
  int32_t bits = ((int32_t)k + 127) << 23;
  float s;
  memcpy(&s, &bits, sizeof s); /* s = 2^k */
  float sq = s * q;
  float e = s + sq;              /* exp(t) */
  float em1 = (s - 1.0f) + sq;   /* expm1(t) */
  float right = a * x * (1.0f + 1.0f / (1.0f + e));
  float left = b * em1;
  /* A select of two computed values: vectorises with -fno-trapping-math
   * (which changes no result, unlike -ffast-math). NaN takes the right. */
  return x < 0.0f ? left : right;
}

/* One innermost run of n elements; a_step and b_step are 0 or 1 and are
 * constants after inlining, so each variant vectorises. */
#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(APALU_NO_NEON)
#include <arm_neon.h>
#define APALU_HAVE_NEON 1
/* apalu_scalar on four lanes with AArch64 NEON: the same range reduction,
 * polynomial and selects (compares, so NaN and the clamp behave as in the
 * scalar code), with fused multiply-adds and a true vector division. GCC
 * does not vectorise the scalar loop for AArch64 by itself. */
static inline float32x4_t apalu_neon(float32x4_t x, float32x4_t a,
                                     float32x4_t b) {
  const float32x4_t m = vmulq_n_f32(x, -APALU_SIGMOID_SCALE);
  float32x4_t t = vbslq_f32(vcltq_f32(x, m), x, m);
  const float32x4_t t_min = vdupq_n_f32(APALU_T_MIN);
  t = vbslq_f32(vcgtq_f32(t, t_min), t, t_min);
  const float32x4_t rounder = vdupq_n_f32(APALU_ROUNDER);
  const float32x4_t k = vsubq_f32(
      vfmaq_n_f32(rounder, t, APALU_LOG2E), rounder);
  const float32x4_t r = vfmsq_n_f32(vfmsq_n_f32(t, k, APALU_LN2_HI), k,
                                    APALU_LN2_LO);
  float32x4_t q = vdupq_n_f32(1.0f / 5040.0f);
  q = vfmaq_f32(vdupq_n_f32(1.0f / 720.0f), q, r);
  q = vfmaq_f32(vdupq_n_f32(1.0f / 120.0f), q, r);
  q = vfmaq_f32(vdupq_n_f32(1.0f / 24.0f), q, r);
  q = vfmaq_f32(vdupq_n_f32(1.0f / 6.0f), q, r);
  q = vfmaq_f32(vdupq_n_f32(0.5f), q, r);
  q = vfmaq_f32(r, vmulq_f32(q, r), r);
  const int32x4_t bits =
      vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127)), 23);
  const float32x4_t s = vreinterpretq_f32_s32(bits); /* 2^k */
  const float32x4_t one = vdupq_n_f32(1.0f);
  const float32x4_t e = vfmaq_f32(s, s, q);                   /* exp(t) */
  const float32x4_t em1 = vfmaq_f32(vsubq_f32(s, one), s, q); /* expm1 */
  const float32x4_t right = vmulq_f32(
      vmulq_f32(a, x), vaddq_f32(one, vdivq_f32(one, vaddq_f32(one, e))));
  const float32x4_t left = vmulq_f32(b, em1);
  return vbslq_f32(vcltq_f32(x, vdupq_n_f32(0.0f)), left, right);
}
#endif

static inline void apalu_run(const float* restrict x, const float* restrict a,
                             const float* restrict b, float* restrict out,
                             int64_t n, int a_step, int b_step) {
  int64_t i = 0;
#ifdef APALU_HAVE_NEON
  const float32x4_t a_all = vdupq_n_f32(a[0]);
  const float32x4_t b_all = vdupq_n_f32(b[0]);
  for (; i + 4 <= n; i += 4) {
    const float32x4_t av = a_step ? vld1q_f32(a + i) : a_all;
    const float32x4_t bv = b_step ? vld1q_f32(b + i) : b_all;
    vst1q_f32(out + i, apalu_neon(vld1q_f32(x + i), av, bv));
  }
#endif
  for (; i < n; ++i) {
    out[i] = apalu_scalar(x[i], a[i * a_step], b[i * b_step]);
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(APALU_NO_CLONES)
/* One binary, the widest vectors the CPU has (picked once at load time). */
#define APALU_CLONES \
  __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define APALU_CLONES
#endif

/* Elements [begin, end) of x in its flat order. The a/b offsets of the row
 * holding `begin` come from its multi-index; later rows advance them as an
 * odometer. */
APALU_CLONES
static void apalu_eval_clones(const ApaluPlan* plan, const float* x,
                              const float* a, const float* b, float* out,
                              int64_t begin, int64_t end) {
  const int inner = plan->rank - 1;
  const int64_t n = plan->extent[inner];
  const int a_step = plan->stride_a[inner] != 0;
  const int b_step = plan->stride_b[inner] != 0;
  int64_t index[APALU_MAX_RANK] = {0};
  int64_t a_off = 0, b_off = 0;
  int64_t row = begin / n;
  for (int d = inner - 1; d >= 0; --d) {
    index[d] = row % plan->extent[d];
    row /= plan->extent[d];
    a_off += index[d] * plan->stride_a[d];
    b_off += index[d] * plan->stride_b[d];
  }
  int64_t col = begin % n;
  for (int64_t pos = begin; pos < end;) {
    const int64_t len = (n - col < end - pos) ? n - col : end - pos;
    const float* ar = a + a_off + col * a_step;
    const float* br = b + b_off + col * b_step;
    if (a_step && b_step) {
      apalu_run(x + pos, ar, br, out + pos, len, 1, 1);
    } else if (!a_step && !b_step) {
      apalu_run(x + pos, ar, br, out + pos, len, 0, 0);
    } else if (a_step) {
      apalu_run(x + pos, ar, br, out + pos, len, 1, 0);
    } else {
      apalu_run(x + pos, ar, br, out + pos, len, 0, 1);
    }
    pos += len;
    col = 0;
    /* Advance the outer multi-index (odometer) and the a/b offsets. */
    for (int d = inner - 1; d >= 0; --d) {
      if (++index[d] < plan->extent[d]) {
        a_off += plan->stride_a[d];
        b_off += plan->stride_b[d];
        break;
      }
      a_off -= plan->stride_a[d] * (plan->extent[d] - 1);
      b_off -= plan->stride_b[d] * (plan->extent[d] - 1);
      index[d] = 0;
    }
  }
}

/* A static function has a local resolver: a non-static one with target
 * clones would export `apalu_eval_range.resolver` from a shared library. */
void apalu_eval_range(const ApaluPlan* plan, const float* x, const float* a,
                      const float* b, float* out, int64_t begin,
                      int64_t end) {
  apalu_eval_clones(plan, x, a, b, out, begin, end);
}

float apalu_value(float x, float a, float b) { return apalu_scalar(x, a, b); }

double apalu_value_double(double x, double a, double b) {
  if (x >= 0.0) return a * (x + x / (1.0 + exp(-1.702 * x)));
  return b * expm1(x);
}

/* ---- shapes and broadcasting ------------------------------------------- */

int apalu_count_elements(const ApaluReporter* reporter, ApaluShape shape,
                         const char* name, int64_t* count) {
  if (shape.dims == NULL && shape.rank != 0) shape.rank = -1;
  if (shape.rank < 0) {
    APALU_CORE_REPORT(reporter, "APALU: tensor '%s' has no shape.", name);
    return -1;
  }
  int64_t n = 1;
  for (int d = 0; d < shape.rank; ++d) {
    const int64_t extent = shape.dims[d];
    if (extent < 0) {
      APALU_CORE_REPORT(reporter,
                        "APALU: tensor '%s' has a negative dimension (%d at "
                        "axis %d).", name, shape.dims[d], d);
      return -1;
    }
    if (extent != 0 && n > APALU_MAX_ELEMENTS / extent) {
      /* Keep scanning: a later 0 makes the tensor empty, not huge. */
      for (int e = d + 1; e < shape.rank; ++e) {
        if (shape.dims[e] == 0) {
          *count = 0;
          return 0;
        }
      }
      APALU_CORE_REPORT(reporter, "APALU: tensor '%s' has too many elements.",
                   name);
      return -1;
    }
    n *= extent;
  }
  *count = n;
  return 0;
}

/* Element strides of `p` (a or b) along each axis of x, 0 where broadcast.
 * Fails unless p's shape, right-aligned, has each dim 1 or equal to x's. */
static int apalu_param_strides(const ApaluReporter* reporter, ApaluShape x,
                               ApaluShape p, const char* name,
                               int64_t* strides) {
  const int rank = x.rank;
  const int offset = rank - p.rank;
  if (offset < 0) {
    APALU_CORE_REPORT(reporter,
                 "APALU: input '%s' has rank %d, more than x's rank %d; it "
                 "must broadcast to x.", name, p.rank, rank);
    return -1;
  }
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const int pd = d >= offset ? p.dims[d - offset] : 1;
    const int xd = x.dims[d];
    if (pd == xd && pd != 1) {
      strides[d] = stride;
      stride *= pd;
    } else if (pd == 1) {
      strides[d] = 0;
    } else {
      APALU_CORE_REPORT(reporter,
                   "APALU: input '%s' does not broadcast to x: its axis %d has "
                   "size %d, x's has %d (each axis must be 1 or equal to "
                   "x's).", name, d - offset, pd, xd);
      return -1;
    }
  }
  return 0;
}

int apalu_plan_broadcast(const ApaluReporter* reporter, ApaluShape x,
                         ApaluShape a, ApaluShape b, ApaluPlan* plan) {
  if (x.rank > APALU_MAX_RANK) {
    APALU_CORE_REPORT(reporter,
                      "APALU: x has rank %d; at most %d is supported.",
                      x.rank, APALU_MAX_RANK);
    return -1;
  }
  int64_t* stride_a = plan->axis_stride_a;
  int64_t* stride_b = plan->axis_stride_b;
  if (apalu_param_strides(reporter, x, a, "a", stride_a) != 0 ||
      apalu_param_strides(reporter, x, b, "b", stride_b) != 0) {
    return -1;
  }
  plan->x_rank = x.rank;
  plan->total = 1;
  for (int d = 0; d < x.rank; ++d) {
    plan->x_dims[d] = x.dims[d];
    plan->total *= x.dims[d];
  }
  /* Coalesce neighbouring axes that a and b treat alike (both broadcast or
   * both contiguous), so the innermost run is as long as possible. */
  plan->rank = 0;
  for (int d = 0; d < x.rank; ++d) {
    const int64_t extent = x.dims[d];
    if (extent == 1) continue;
    const int r = plan->rank;
    if (r > 0 && (plan->stride_a[r - 1] == 0) == (stride_a[d] == 0) &&
        (plan->stride_b[r - 1] == 0) == (stride_b[d] == 0)) {
      plan->extent[r - 1] *= extent;
      plan->stride_a[r - 1] = stride_a[d];
      plan->stride_b[r - 1] = stride_b[d];
    } else {
      plan->extent[r] = extent;
      plan->stride_a[r] = stride_a[d];
      plan->stride_b[r] = stride_b[d];
      plan->rank = r + 1;
    }
  }
  if (plan->rank == 0) { /* a single element */
    plan->rank = 1;
    plan->extent[0] = 1;
    plan->stride_a[0] = 0;
    plan->stride_b[0] = 0;
  }
  return 0;
}

/* ---- int8 (full-integer quantised models) ----------------------------- */
/*
 * When x is int8, the output is int8 too, and a and b are constant float32
 * tensors or int32 tensors quantised per tensor (value = scale * (q - zero)).
 * x and the output carry per-tensor scales and zero points. f depends on the
 * input level q (256 values) and on the position's (a, b), so Prepare
 * tabulates, in float64,
 *     out(q) = clamp(round(f(s_in (q - z_in), a, b) / s_out) + z_out)
 * for every q, once per distinct (a, b) position: one 256-entry table for
 * scalar a and b, one per channel for per-channel a and b. Eval is then one
 * table lookup per element. When a and b vary over more than
 * APALU_INT8_MAX_TABLES positions (e.g. one a per pixel and channel), Prepare
 * instead tabulates the parameter-free parts g(x) = x + x sigmoid(1.702 x)
 * (x >= 0) and expm1(x) (x < 0) per level, and Eval computes
 *     clamp(round(c(q) * unit(q)) + z_out), c = a / s_out or b / s_out,
 * one lookup and one multiply per element.
 */

/* A usable quantisation scale: a positive, finite, normal float (not NaN,
 * not denormal). */
static int apalu_scale_ok(float scale) {
  return scale >= 1.17549435e-38f && scale <= 3.40282347e38f;
}

/* Clamps to [-128, 127]; NaN (from a NaN or infinite slope or scale) gives
 * -128, so the conversion to int8 is always defined. */
static int8_t apalu_int8_saturate(double v) {
  v = !(v >= -128.0) ? -128.0 : (v > 127.0 ? 127.0 : v);
  return (int8_t)v;
}

/* Value of element `offset` of a float32 or quantised int32 parameter. */
static double apalu_param_value(ApaluParam p, int64_t offset) {
  if (!p.is_int32) return ((const float*)p.data)[offset];
  return (double)p.scale *
         ((double)((const int32_t*)p.data)[offset] - p.zero_point);
}

void apalu_int8_layout(const ApaluPlan* plan, ApaluInt8* q8, size_t* bytes) {
  memset(q8, 0, sizeof *q8);
  /* Parameter space: x's axes along which a or b varies, row-major. */
  const int rank = plan->x_rank;
  int64_t stride[APALU_MAX_RANK];
  int64_t positions = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const int varies =
        plan->axis_stride_a[d] != 0 || plan->axis_stride_b[d] != 0;
    stride[d] = varies ? positions : 0;
    if (varies) positions *= plan->x_dims[d];
  }
  q8->positions = positions;

  /* Eval's view of x: coalesced axes, as for the float plan. */
  q8->rank = 0;
  for (int d = 0; d < rank; ++d) {
    const int64_t extent = plan->x_dims[d];
    if (extent == 1) continue;
    const int r = q8->rank;
    if (r > 0 && (q8->stride[r - 1] == 0) == (stride[d] == 0)) {
      q8->extent[r - 1] *= extent;
      q8->stride[r - 1] = stride[d];
    } else {
      q8->extent[r] = extent;
      q8->stride[r] = stride[d];
      q8->rank = r + 1;
    }
  }
  if (q8->rank == 0) {
    q8->rank = 1;
    q8->extent[0] = 1;
    q8->stride[0] = 0;
  }
  /* Tables: + 64 as a vector gather may read 3 bytes past the last one. */
  *bytes = positions <= APALU_INT8_MAX_TABLES
               ? (size_t)positions * 256 + 64
               : (size_t)positions * 2 * sizeof(float);
}

int apalu_int8_fill(const ApaluReporter* reporter, const ApaluPlan* plan,
                    ApaluInt8* q8, void* memory, ApaluParam a_param,
                    ApaluParam b_param, float in_scale, int32_t in_zero,
                    float out_scale, int32_t out_zero) {
  const ApaluParam params[2] = {a_param, b_param};
  for (int i = 0; i < 2; ++i) {
    if (params[i].is_int32 && !apalu_scale_ok(params[i].scale)) {
      APALU_CORE_REPORT(reporter,
                   "APALU: int32 input '%s' needs a positive quantisation "
                   "scale (finite).", i == 0 ? "a" : "b");
      return -1;
    }
  }
  if (!apalu_scale_ok(in_scale) || !apalu_scale_ok(out_scale)) {
    APALU_CORE_REPORT(reporter,
                 "APALU: int8 x and output need per-tensor quantisation "
                 "parameters with a positive scale (finite).");
    return -1;
  }
  q8->in_zero = in_zero;
  q8->out_zero = out_zero;
  q8->in_scale = in_scale;
  q8->out_scale = out_scale;
  const int use_tables = q8->positions <= APALU_INT8_MAX_TABLES;
  q8->tables = use_tables ? (int8_t*)memory : NULL;
  q8->coefficients = use_tables ? NULL : (float*)memory;
  const double s_in = in_scale, s_out = out_scale;
  if (use_tables) {
    memset(q8->tables + q8->positions * 256, 0, 64);
  } else {
    for (int level = 0; level < 256; ++level) {
      const double xv = s_in * ((double)(level - 128) - q8->in_zero);
      q8->unit[level] = (float)apalu_value_double(xv, 1.0, 1.0);
    }
  }
  /* Walk the parameter positions in order (an odometer over the axes where
   * a or b varies), tracking a's and b's element offsets. */
  const int rank = plan->x_rank;
  const int* dims = plan->x_dims;
  const int64_t* stride_a = plan->axis_stride_a;
  const int64_t* stride_b = plan->axis_stride_b;
  int64_t index[APALU_MAX_RANK] = {0};
  int64_t a_off = 0, b_off = 0;
  for (int64_t p = 0; p < q8->positions; ++p) {
    const double a = apalu_param_value(a_param, a_off);
    const double b = apalu_param_value(b_param, b_off);
    /* Also rejects NaN and infinite slopes. */
    if (!(fabs(a / s_out) <= 3.40282347e38) ||
        !(fabs(b / s_out) <= 3.40282347e38)) {
      APALU_CORE_REPORT(reporter,
                   "APALU: in an int8 model, a and b must be finite and "
                   "a / (output scale), b / (output scale) float32 "
                   "numbers.");
      return -1;
    }
    if (use_tables) {
      int8_t* table = q8->tables + p * 256;
      for (int level = 0; level < 256; ++level) {
        const double xv = s_in * ((double)(level - 128) - q8->in_zero);
        const double y = round(apalu_value_double(xv, a, b) / s_out);
        table[level] = apalu_int8_saturate(y + q8->out_zero);
      }
    } else {
      q8->coefficients[2 * p] = (float)(a / s_out);
      q8->coefficients[2 * p + 1] = (float)(b / s_out);
    }
    for (int d = rank - 1; d >= 0; --d) {
      if (stride_a[d] == 0 && stride_b[d] == 0) continue;
      if (++index[d] < dims[d]) {
        a_off += stride_a[d];
        b_off += stride_b[d];
        break;
      }
      a_off -= stride_a[d] * (dims[d] - 1);
      b_off -= stride_b[d] * (dims[d] - 1);
      index[d] = 0;
    }
  }
  return 0;
}

static void apalu_int8_run_scaled(const ApaluInt8* q8, const int8_t* x,
                                  int8_t* out, int64_t n, int64_t p,
                                  int step) {
  const float zero = (float)q8->out_zero;
  for (int64_t i = 0; i < n; ++i) {
    const int level = x[i] + 128;
    const float* c = q8->coefficients + 2 * (p + i * step);
    const float coefficient = x[i] >= q8->in_zero ? c[0] : c[1];
    float v = roundf(coefficient * q8->unit[level]) + zero;
    /* NaN (from a NaN or infinite slope) gives -128: always defined. */
    v = !(v >= -128.0f) ? -128.0f : (v > 127.0f ? 127.0f : v);
    out[i] = (int8_t)v;
  }
}

/* One shared table over a run: out[i] = table[x[i] + 128]. */
static void apalu_int8_lookup(const int8_t* table, const int8_t* x,
                              int8_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = table[x[i] + 128];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(APALU_NO_SIMD)
#include <immintrin.h>
#define APALU_HAVE_VBMI 1
/* The same with AVX-512 VBMI: the 256-byte table sits in four registers and
 * two two-register byte permutes (7 index bits each) plus a blend on the
 * index's top bit look up 64 elements. Used when the CPU has VBMI. */
__attribute__((target("avx512f,avx512bw,avx512vbmi")))
static void apalu_int8_lookup_vbmi(const int8_t* table, const int8_t* x,
                                   int8_t* out, int64_t n) {
  const __m512i t0 = _mm512_loadu_si512((const void*)table);
  const __m512i t1 = _mm512_loadu_si512((const void*)(table + 64));
  const __m512i t2 = _mm512_loadu_si512((const void*)(table + 128));
  const __m512i t3 = _mm512_loadu_si512((const void*)(table + 192));
  const __m512i flip = _mm512_set1_epi8((char)0x80); /* level = x + 128 */
  int64_t i = 0;
  for (; i < n; i += 64) {
    const __mmask64 k =
        n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
    const __m512i level =
        _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, x + i), flip);
    const __m512i low = _mm512_permutex2var_epi8(t0, level, t1);
    const __m512i high = _mm512_permutex2var_epi8(t2, level, t3);
    const __m512i y =
        _mm512_mask_blend_epi8(_mm512_movepi8_mask(level), low, high);
    _mm512_mask_storeu_epi8(out + i, k, y);
  }
}

/* One table per element (per-channel a, b): out[i] = tables[256 i + x[i] +
 * 128], 16 elements per 32-bit gather (each reads 4 bytes from its table; the
 * tables are allocated with padding for the last one). */
__attribute__((target("avx512f,avx512bw")))
static void apalu_int8_lookup_tables_avx512(const int8_t* tables,
                                            const int8_t* x, int8_t* out,
                                            int64_t n) {
  const __m512i lanes = _mm512_setr_epi32(
      128, 256 + 128, 512 + 128, 768 + 128, 1024 + 128, 1280 + 128,
      1536 + 128, 1792 + 128, 2048 + 128, 2304 + 128, 2560 + 128, 2816 + 128,
      3072 + 128, 3328 + 128, 3584 + 128, 3840 + 128);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    /* Masked forms with explicit sources: the unmasked intrinsics start from
     * an "undefined" register, which some GCC versions warn about in C++. */
    const __mmask16 all = (__mmask16)0xFFFF;
    const __m512i level = _mm512_maskz_cvtepi8_epi32(
        all, _mm_loadu_si128((const __m128i*)(x + i)));
    const __m512i index = _mm512_add_epi32(level, lanes);
    const __m512i y = _mm512_mask_i32gather_epi32(
        _mm512_setzero_si512(), all, index,
        (const void*)(tables + 256 * i), 1);
    _mm_storeu_si128((__m128i*)(out + i),
                     _mm512_mask_cvtepi32_epi8(_mm_setzero_si128(), all, y));
  }
  for (; i < n; ++i) out[i] = tables[256 * i + x[i] + 128];
}

/* Transposes a 64x64 byte block held in 64 registers, in place: six steps
 * that swap the off-diagonal b x b sub-blocks of each 2b x 2b block (b = 32,
 * 16, ..., 1), each with two-source byte permutes. */
__attribute__((target("avx512f,avx512bw,avx512vbmi")))
static void apalu_transpose64_indices(__m512i* indices) {
  int step = 0;
  for (int b = 32; b >= 1; b >>= 1, ++step) {
    uint8_t low[64], high[64];
    for (int col = 0; col < 64; ++col) {
      low[col] = (uint8_t)((col & b) ? 64 + col - b : col);
      high[col] = (uint8_t)((col & b) ? 64 + col : col + b);
    }
    indices[2 * step] = _mm512_loadu_si512((const void*)low);
    indices[2 * step + 1] = _mm512_loadu_si512((const void*)high);
  }
}

__attribute__((target("avx512f,avx512bw,avx512vbmi")))
static void apalu_transpose64(__m512i* rows, const __m512i* indices) {
  int step = 0;
  for (int b = 32; b >= 1; b >>= 1, ++step) {
    const __m512i low_index = indices[2 * step];
    const __m512i high_index = indices[2 * step + 1];
    for (int i = 0; i < 64; ++i) {
      if (i & b) continue;
      const __m512i upper = rows[i], lower = rows[i + b];
      rows[i] = _mm512_permutex2var_epi8(upper, low_index, lower);
      rows[i + b] = _mm512_permutex2var_epi8(upper, high_index, lower);
    }
  }
}

/* Per-channel tables over `rows` rows of `channels` (a multiple of 64)
 * elements each, the same tables for every row: 64x64 blocks are transposed
 * so that each register holds one channel of 64 rows, looked up with that
 * channel's table in four registers, and transposed back. Returns the
 * number of rows done (a multiple of 64). */
__attribute__((target("avx512f,avx512bw,avx512vbmi")))
static int64_t apalu_int8_lookup_channels_vbmi(const int8_t* tables,
                                               const int8_t* x, int8_t* out,
                                               int64_t rows,
                                               int64_t channels) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  __m512i block[64], indices[12];
  apalu_transpose64_indices(indices);
  int64_t row = 0;
  for (; row + 64 <= rows; row += 64) {
    for (int64_t c0 = 0; c0 < channels; c0 += 64) {
      for (int i = 0; i < 64; ++i) {
        block[i] = _mm512_loadu_si512(
            (const void*)(x + (row + i) * channels + c0));
      }
      apalu_transpose64(block, indices);
      for (int c = 0; c < 64; ++c) {
        const int8_t* table = tables + (c0 + c) * 256;
        const __m512i level = _mm512_xor_si512(block[c], flip);
        const __m512i low = _mm512_permutex2var_epi8(
            _mm512_loadu_si512((const void*)table), level,
            _mm512_loadu_si512((const void*)(table + 64)));
        const __m512i high = _mm512_permutex2var_epi8(
            _mm512_loadu_si512((const void*)(table + 128)), level,
            _mm512_loadu_si512((const void*)(table + 192)));
        block[c] = _mm512_mask_blend_epi8(_mm512_movepi8_mask(level), low,
                                          high);
      }
      apalu_transpose64(block, indices);
      for (int i = 0; i < 64; ++i) {
        _mm512_storeu_si512((void*)(out + (row + i) * channels + c0),
                            block[i]);
      }
    }
  }
  return row;
}

static int apalu_cpu_has_avx512(void) {
  static int has = -1;
  if (has < 0) {
    __builtin_cpu_init();
    has = __builtin_cpu_supports("avx512f") &&
          __builtin_cpu_supports("avx512bw");
  }
  return has;
}

static int apalu_cpu_has_vbmi(void) {
  static int has = -1;
  if (has < 0) {
    __builtin_cpu_init();
    has = __builtin_cpu_supports("avx512vbmi") &&
          __builtin_cpu_supports("avx512bw");
  }
  return has;
}
#endif

void apalu_int8_eval(const ApaluInt8* q8, const int8_t* x,
                            int8_t* out) {
  const int inner = q8->rank - 1;
  const int64_t n = q8->extent[inner];
  const int step = q8->stride[inner] != 0;
  int64_t rows = 1;
  for (int d = 0; d < inner; ++d) rows *= q8->extent[d];
  int64_t index[APALU_MAX_RANK] = {0};
  int64_t p = 0;
  int64_t row = 0;
#ifdef APALU_HAVE_VBMI
  /* a, b per channel of a feature map: the same tables for every row. */
  if (q8->tables != NULL && step && q8->rank == 2 && q8->stride[0] == 0 &&
      n % 64 == 0 && rows >= 64 && apalu_cpu_has_vbmi()) {
    row = apalu_int8_lookup_channels_vbmi(q8->tables, x, out, rows, n);
    index[0] = row;
  }
#endif
  for (; row < rows; ++row) {
    const int8_t* xr = x + row * n;
    int8_t* outr = out + row * n;
    if (q8->tables == NULL) {
      apalu_int8_run_scaled(q8, xr, outr, n, p, step);
    } else if (step) {
      /* One table per element of the run (per-channel a and b). */
#ifdef APALU_HAVE_VBMI
      if (apalu_cpu_has_avx512()) {
        apalu_int8_lookup_tables_avx512(q8->tables + p * 256, xr, outr, n);
      } else
#endif
      {
        const int8_t* tables = q8->tables + p * 256 + 128;
        for (int64_t i = 0; i < n; ++i) outr[i] = tables[i * 256 + xr[i]];
      }
    } else {
#ifdef APALU_HAVE_VBMI
      if (apalu_cpu_has_vbmi()) {
        apalu_int8_lookup_vbmi(q8->tables + p * 256, xr, outr, n);
      } else {
        apalu_int8_lookup(q8->tables + p * 256, xr, outr, n);
      }
#else
      apalu_int8_lookup(q8->tables + p * 256, xr, outr, n);
#endif
    }
    for (int d = inner - 1; d >= 0; --d) {
      if (++index[d] < q8->extent[d]) {
        p += q8->stride[d];
        break;
      }
      p -= q8->stride[d] * (q8->extent[d] - 1);
      index[d] = 0;
    }
  }
}
