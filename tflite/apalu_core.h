/*
 * APALU's element-wise math, with no runtime types: the float kernel, the
 * int8 lookup tables, and the broadcast of per-channel (or any broadcastable)
 * slopes. Each runtime's glue (apalu_op.c for classic TFLite,
 * apalu_micro.cc for TFLite Micro, apalu_litert.c for the LiteRT 2 C API)
 * reads its tensors, calls these functions and owns the memory.
 *
 *     f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
 *     f(x) = b * (exp(x) - 1)                 for x <  0
 *
 * Use, per node:
 *   1. apalu_plan_broadcast(): checks that a and b broadcast to x and plans
 *      the loops (no memory);
 *   2. float32: apalu_eval_range(plan, x, a, b, out, 0, total), any split of
 *      [0, total) over threads;
 *   3. int8: apalu_int8_layout() says how many bytes the tables need; the
 *      glue allocates them (malloc, or an arena) and apalu_int8_fill()
 *      tabulates; apalu_int8_eval() then runs.
 * Errors are reported through an ApaluReporter with messages that start with
 * "APALU:"; functions return 0 on success, -1 on an error.
 *
 * Nothing here allocates, starts a thread or keeps global state, so the same
 * file builds for Linux, Android, iOS and microcontrollers (C99 or C++).
 * The non-static functions are hidden from a shared library's exports.
 */
#ifndef KERAS_APALU_CORE_H_
#define KERAS_APALU_CORE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(_WIN32)
#define APALU_INTERNAL __attribute__((visibility("hidden")))
#else
#define APALU_INTERNAL
#endif

#define APALU_MAX_RANK 8
/* Above this many distinct (a, b) positions the int8 path computes
 * c * unit(q) per element instead of one 256-entry table per position. */
#define APALU_INT8_MAX_TABLES 4096

/* Where errors go: `report(user, printf-style format, ...)`. */
typedef struct ApaluReporter {
  void (*report)(void* user, const char* format, ...);
  void* user;
} ApaluReporter;

/* A tensor's shape, as the runtime holds it. */
typedef struct ApaluShape {
  int rank;
  const int* dims;
} ApaluShape;

/* Broadcast plan: x viewed as `rank` coalesced axes and the element stride
 * of a and b along each (0 where broadcast); `x_rank`, `x_dims` and the
 * `axis_stride_*` keep the same per axis of x, for the int8 layout. */
typedef struct ApaluPlan {
  int rank;
  int64_t extent[APALU_MAX_RANK];
  int64_t stride_a[APALU_MAX_RANK];
  int64_t stride_b[APALU_MAX_RANK];
  int x_rank;
  int x_dims[APALU_MAX_RANK];
  int64_t axis_stride_a[APALU_MAX_RANK];
  int64_t axis_stride_b[APALU_MAX_RANK];
  int64_t total; /* elements of x */
} ApaluPlan;

/* A slope tensor of an int8 model: float32 values, or int32 quantised per
 * tensor (value = scale * (q - zero_point)). */
typedef struct ApaluParam {
  const void* data;
  int is_int32;
  float scale;
  int32_t zero_point;
} ApaluParam;

/* int8 plan: out(q) for each input level q, per distinct (a, b) position. */
typedef struct ApaluInt8 {
  int rank; /* x's coalesced axes */
  int64_t extent[APALU_MAX_RANK];
  int64_t stride[APALU_MAX_RANK]; /* in parameter positions; 0: broadcast */
  int64_t positions;              /* distinct (a, b) positions */
  int8_t* tables;                 /* positions x 256 (+64), or NULL */
  float* coefficients;            /* positions x 2: a / s_out, b / s_out */
  float unit[256];                /* g or expm1 at each input level */
  int32_t in_zero;
  int32_t out_zero;
  float in_scale;
  float out_scale;
} ApaluInt8;

/* The most elements a tensor may have: its byte size, and the int8 path's
 * 8 bytes of coefficients per element, then still fit a ptrdiff_t. */
#define APALU_MAX_ELEMENTS ((int64_t)(PTRDIFF_MAX / 8))

/* Element count of a shape; fails on a missing shape, a negative dimension
 * or a count beyond APALU_MAX_ELEMENTS. `name` is used in the message. */
APALU_INTERNAL int apalu_count_elements(const ApaluReporter* reporter,
                                        ApaluShape shape, const char* name,
                                        int64_t* count);

/* Plans f over x with slopes a and b (each right-aligned, every axis 1 or
 * equal to x's); fails on rank > APALU_MAX_RANK or a non-broadcast. */
APALU_INTERNAL int apalu_plan_broadcast(const ApaluReporter* reporter,
                                        ApaluShape x, ApaluShape a,
                                        ApaluShape b, ApaluPlan* plan);

/* float32: out[i] = f(x[i], a[.], b[.]) for flat i in [begin, end). */
APALU_INTERNAL void apalu_eval_range(const ApaluPlan* plan, const float* x,
                                     const float* a, const float* b,
                                     float* out, int64_t begin, int64_t end);

/* f at one point in float32 (the kernel's formula) and in float64. */
APALU_INTERNAL float apalu_value(float x, float a, float b);
APALU_INTERNAL double apalu_value_double(double x, double a, double b);

/* Fills q8's view of x and says how many bytes of table memory
 * apalu_int8_fill needs (aligned to 4 bytes by the caller's allocator). */
APALU_INTERNAL void apalu_int8_layout(const ApaluPlan* plan, ApaluInt8* q8,
                                      size_t* bytes);

/* Tabulates into `memory` (bytes from apalu_int8_layout). x and the output
 * have per-tensor scales and zero points; fails on a bad scale or a slope
 * that is not finite. */
APALU_INTERNAL int apalu_int8_fill(const ApaluReporter* reporter,
                                   const ApaluPlan* plan, ApaluInt8* q8,
                                   void* memory, ApaluParam a, ApaluParam b,
                                   float in_scale, int32_t in_zero,
                                   float out_scale, int32_t out_zero);

/* int8: out = table lookups (or c * unit) over all of x. */
APALU_INTERNAL void apalu_int8_eval(const ApaluInt8* q8, const int8_t* x,
                                    int8_t* out);

#ifdef __cplusplus
}
#endif

#endif /* KERAS_APALU_CORE_H_ */
