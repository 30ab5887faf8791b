/*
 * APALU as a TensorFlow Lite custom operator (float32).
 *
 *     f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
 *     f(x) = b * (exp(x) - 1)                 for x <  0
 *
 * Inputs: x (any shape), a and b (each broadcastable to x: a scalar, one value
 * per channel of the last axis, or any shape whose dimensions are 1 or equal to
 * x's, right-aligned, as produced by every `shared_axes` of the Keras layer).
 * Output: same shape as x. All tensors float32.
 *
 * One exp per element: with t = min(x, -1.702 x) <= 0 and e = exp(t),
 *     x >= 0:  f = a * x * (1 + 1 / (1 + e))   (e = exp(-1.702 x))
 *     x <  0:  f = b * expm1(x)                 (t = x)
 * exp and expm1 share one range reduction t = k ln2 + r, |r| <= ln2/2, and one
 * polynomial q = expm1(r), so expm1(t) = (2^k - 1) + 2^k q keeps full relative
 * accuracy near 0 (k = 0 there) and the loop has no branch to vectorise.
 *
 * By default the TFLite C types are declared below (only the fields this
 * kernel touches, in the public layout), checked by static assertions on sizes
 * and offsets. Inside an application that has the TFLite headers, build with
 * -DAPALU_USE_TFLITE_HEADERS to use the real declarations instead.
 *
 * Exported: `const TfLiteRegistration* KerasApalu_Register_APALU(void)`, to be
 * passed to `MutableOpResolver::AddCustom("APALU", ..., 1)`.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus /* also compiles as C++ (e.g. inside a .cc unity build) */
#define restrict __restrict
#define _Static_assert static_assert
#define APALU_EXTERN_C extern "C"
#else
#define APALU_EXTERN_C
#endif

#ifdef APALU_USE_TFLITE_HEADERS
#include "tensorflow/lite/c/common.h"
#else
#include <stdbool.h>

typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef enum { kTfLiteNoType = 0, kTfLiteFloat32 = 1 } TfLiteType;

typedef struct TfLiteIntArray {
  int size;
  int data[];
} TfLiteIntArray;

/* A union of data pointers in the real header; `data.f` reads the same. */
typedef union TfLitePtrUnion {
  float* f;
  void* data;
} TfLitePtrUnion;

/* Fields after `dims` are only declared to fix the size of the struct: the
 * runtime hands out an array of tensors, so the stride must be right. */
typedef struct TfLiteTensor {
  TfLiteType type;
  TfLitePtrUnion data;
  TfLiteIntArray* dims;
  float quant_scale;
  int32_t quant_zero_point;
  int allocation_type;
  size_t bytes;
  const void* allocation;
  const char* name;
  void* delegate;
  int buffer_handle;
  bool data_is_stale;
  bool is_variable;
  int quantization_type;
  void* quantization_params;
  void* sparsity;
  const TfLiteIntArray* dims_signature;
} TfLiteTensor;

typedef struct TfLiteNode {
  TfLiteIntArray* inputs;
  TfLiteIntArray* outputs;
  TfLiteIntArray* intermediates;
  TfLiteIntArray* temporaries;
  void* user_data;
  void* builtin_data;
  const void* custom_initial_data;
  int custom_initial_data_size;
  void* delegate;
  bool might_have_side_effect;
} TfLiteNode;

/* Only the leading members, up to the ones this kernel calls. The runtime owns
 * the context; the kernel never copies or allocates one. */
typedef struct TfLiteContext {
  size_t tensors_size;
  void* get_execution_plan;
  TfLiteTensor* tensors;
  void* impl_;
  TfLiteStatus (*ResizeTensor)(struct TfLiteContext*, TfLiteTensor* tensor,
                               TfLiteIntArray* new_size);
  void (*ReportError)(struct TfLiteContext*, const char* msg, ...);
} TfLiteContext;

typedef struct TfLiteRegistration {
  void* (*init)(TfLiteContext* context, const char* buffer, size_t length);
  void (*free)(TfLiteContext* context, void* buffer);
  TfLiteStatus (*prepare)(TfLiteContext* context, TfLiteNode* node);
  TfLiteStatus (*invoke)(TfLiteContext* context, TfLiteNode* node);
  const char* (*profiling_string)(const TfLiteContext* context,
                                  const TfLiteNode* node);
  int32_t builtin_code;
  const char* custom_name;
  int version;
  void* registration_external;
  void* async_kernel;
  uint64_t inplace_operator;
} TfLiteRegistration;

#define APALU_ASSERT_LAYOUT(cond) _Static_assert(cond, #cond)
#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu /* LP64: Linux, Android, iOS, macOS */
APALU_ASSERT_LAYOUT(offsetof(TfLiteTensor, data) == 8);
APALU_ASSERT_LAYOUT(offsetof(TfLiteTensor, dims) == 16);
APALU_ASSERT_LAYOUT(offsetof(TfLiteTensor, bytes) == 40);
APALU_ASSERT_LAYOUT(offsetof(TfLiteTensor, quantization_type) == 80);
APALU_ASSERT_LAYOUT(offsetof(TfLiteTensor, dims_signature) == 104);
APALU_ASSERT_LAYOUT(sizeof(TfLiteTensor) == 112);
APALU_ASSERT_LAYOUT(offsetof(TfLiteNode, user_data) == 32);
APALU_ASSERT_LAYOUT(sizeof(TfLiteNode) == 80);
APALU_ASSERT_LAYOUT(offsetof(TfLiteContext, tensors) == 16);
APALU_ASSERT_LAYOUT(offsetof(TfLiteContext, ResizeTensor) == 32);
APALU_ASSERT_LAYOUT(offsetof(TfLiteContext, ReportError) == 40);
APALU_ASSERT_LAYOUT(offsetof(TfLiteRegistration, builtin_code) == 40);
APALU_ASSERT_LAYOUT(offsetof(TfLiteRegistration, version) == 56);
APALU_ASSERT_LAYOUT(sizeof(TfLiteRegistration) == 88);
#elif UINTPTR_MAX == 0xFFFFFFFFu /* ILP32: armeabi-v7a, x86 Android */
APALU_ASSERT_LAYOUT(offsetof(TfLiteTensor, data) == 4);
APALU_ASSERT_LAYOUT(offsetof(TfLiteTensor, dims) == 8);
APALU_ASSERT_LAYOUT(offsetof(TfLiteTensor, bytes) == 24);
APALU_ASSERT_LAYOUT(offsetof(TfLiteTensor, quantization_type) == 48);
APALU_ASSERT_LAYOUT(sizeof(TfLiteTensor) == 64);
APALU_ASSERT_LAYOUT(offsetof(TfLiteNode, user_data) == 16);
APALU_ASSERT_LAYOUT(offsetof(TfLiteContext, tensors) == 8);
APALU_ASSERT_LAYOUT(offsetof(TfLiteContext, ReportError) == 20);
#else
#error "APALU kernel: unknown pointer size; build with -DAPALU_USE_TFLITE_HEADERS"
#endif
APALU_ASSERT_LAYOUT(offsetof(TfLiteIntArray, data) == sizeof(int));
APALU_ASSERT_LAYOUT(sizeof(TfLiteStatus) == sizeof(int));
APALU_ASSERT_LAYOUT(sizeof(TfLiteType) == sizeof(int));
#endif /* APALU_USE_TFLITE_HEADERS */

#define APALU_MAX_RANK 8
#define APALU_REPORT(context, ...) (context)->ReportError((context), __VA_ARGS__)

/* Broadcast plan, computed in Prepare: x viewed as `rank` coalesced axes, the
 * element stride of a and b along each (0 where they are broadcast). */
typedef struct ApaluPlan {
  int rank;
  int64_t extent[APALU_MAX_RANK];
  int64_t stride_a[APALU_MAX_RANK];
  int64_t stride_b[APALU_MAX_RANK];
} ApaluPlan;

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
static inline void apalu_run(const float* restrict x, const float* restrict a,
                             const float* restrict b, float* restrict out,
                             int64_t n, int a_step, int b_step) {
  for (int64_t i = 0; i < n; ++i) {
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

APALU_CLONES
static void apalu_eval_plan(const ApaluPlan* plan, const float* x,
                            const float* a, const float* b, float* out) {
  const int inner = plan->rank - 1;
  const int64_t n = plan->extent[inner];
  const int a_step = plan->stride_a[inner] != 0;
  const int b_step = plan->stride_b[inner] != 0;
  int64_t rows = 1;
  for (int d = 0; d < inner; ++d) rows *= plan->extent[d];
  int64_t index[APALU_MAX_RANK] = {0};
  int64_t a_off = 0, b_off = 0;
  for (int64_t row = 0; row < rows; ++row) {
    const float* xr = x + row * n;
    float* outr = out + row * n;
    const float* ar = a + a_off;
    const float* br = b + b_off;
    if (a_step && b_step) {
      apalu_run(xr, ar, br, outr, n, 1, 1);
    } else if (!a_step && !b_step) {
      apalu_run(xr, ar, br, outr, n, 0, 0);
    } else if (a_step) {
      apalu_run(xr, ar, br, outr, n, 1, 0);
    } else {
      apalu_run(xr, ar, br, outr, n, 0, 1);
    }
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

/* ---- TFLite kernel ----------------------------------------------------- */

static void* apalu_init(TfLiteContext* context, const char* buffer,
                        size_t length) {
  (void)context;
  (void)buffer;
  (void)length;
  return calloc(1, sizeof(ApaluPlan));
}

static void apalu_free(TfLiteContext* context, void* buffer) {
  (void)context;
  free(buffer);
}

static TfLiteTensor* apalu_tensor(TfLiteContext* context,
                                  const TfLiteIntArray* indices, int i) {
  const int index = indices->data[i];
  if (index < 0 || (size_t)index >= context->tensors_size) return NULL;
  return &context->tensors[index];
}

static const char* apalu_input_name(int i) {
  return i == 0 ? "x" : (i == 1 ? "a" : "b");
}

/* Element strides of `p` (a or b) along each axis of x, 0 where broadcast.
 * Fails unless p's shape, right-aligned, has each dim 1 or equal to x's. */
static TfLiteStatus apalu_param_strides(TfLiteContext* context,
                                        const TfLiteIntArray* x_dims,
                                        const TfLiteIntArray* p_dims,
                                        const char* name, int64_t* strides) {
  const int rank = x_dims->size;
  const int offset = rank - p_dims->size;
  if (offset < 0) {
    APALU_REPORT(context,
                 "APALU: input '%s' has rank %d, more than x's rank %d; it "
                 "must broadcast to x.", name, p_dims->size, rank);
    return kTfLiteError;
  }
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const int pd = d >= offset ? p_dims->data[d - offset] : 1;
    const int xd = x_dims->data[d];
    if (pd == xd && pd != 1) {
      strides[d] = stride;
      stride *= pd;
    } else if (pd == 1) {
      strides[d] = 0;
    } else {
      APALU_REPORT(context,
                   "APALU: input '%s' does not broadcast to x: its axis %d has "
                   "size %d, x's has %d (each axis must be 1 or equal to "
                   "x's).", name, d - offset, pd, xd);
      return kTfLiteError;
    }
  }
  return kTfLiteOk;
}

static TfLiteStatus apalu_prepare(TfLiteContext* context, TfLiteNode* node) {
  if (node->inputs->size != 3) {
    APALU_REPORT(context, "APALU: expected 3 inputs (x, a, b), got %d.",
                 node->inputs->size);
    return kTfLiteError;
  }
  if (node->outputs->size != 1) {
    APALU_REPORT(context, "APALU: expected 1 output, got %d.",
                 node->outputs->size);
    return kTfLiteError;
  }
  TfLiteTensor* in[3];
  for (int i = 0; i < 3; ++i) {
    in[i] = apalu_tensor(context, node->inputs, i);
    if (in[i] == NULL) {
      APALU_REPORT(context, "APALU: input '%s' is missing.",
                   apalu_input_name(i));
      return kTfLiteError;
    }
    if (in[i]->type != kTfLiteFloat32) {
      APALU_REPORT(context,
                   "APALU: input '%s' must be float32, got TfLiteType %d. "
                   "(Quantised APALU is not supported by this kernel.)",
                   apalu_input_name(i), (int)in[i]->type);
      return kTfLiteError;
    }
  }
  TfLiteTensor* out = apalu_tensor(context, node->outputs, 0);
  if (out == NULL || out->type != kTfLiteFloat32) {
    APALU_REPORT(context, "APALU: the output must be a float32 tensor.");
    return kTfLiteError;
  }
  const TfLiteIntArray* x_dims = in[0]->dims;
  if (x_dims->size > APALU_MAX_RANK) {
    APALU_REPORT(context, "APALU: x has rank %d; at most %d is supported.",
                 x_dims->size, APALU_MAX_RANK);
    return kTfLiteError;
  }

  int64_t stride_a[APALU_MAX_RANK], stride_b[APALU_MAX_RANK];
  if (apalu_param_strides(context, x_dims, in[1]->dims, "a", stride_a) !=
          kTfLiteOk ||
      apalu_param_strides(context, x_dims, in[2]->dims, "b", stride_b) !=
          kTfLiteOk) {
    return kTfLiteError;
  }

  /* Coalesce neighbouring axes that a and b treat alike (both broadcast or
   * both contiguous), so the innermost run is as long as possible. */
  ApaluPlan* plan = (ApaluPlan*)node->user_data;
  plan->rank = 0;
  for (int d = 0; d < x_dims->size; ++d) {
    const int64_t extent = x_dims->data[d];
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

#ifdef APALU_USE_TFLITE_HEADERS
  TfLiteIntArray* shape = TfLiteIntArrayCopy(x_dims);
#else
  /* Same allocation as TfLiteIntArrayCreate (malloc'd header + ints), which
   * ResizeTensor takes ownership of and frees with TfLiteIntArrayFree. */
  TfLiteIntArray* shape = (TfLiteIntArray*)malloc(
      sizeof(TfLiteIntArray) + sizeof(int) * (size_t)x_dims->size);
  if (shape != NULL) {
    shape->size = x_dims->size;
    memcpy(shape->data, x_dims->data, sizeof(int) * (size_t)x_dims->size);
  }
#endif
  if (shape == NULL) {
    APALU_REPORT(context, "APALU: out of memory.");
    return kTfLiteError;
  }
  return context->ResizeTensor(context, out, shape);
}

static TfLiteStatus apalu_invoke(TfLiteContext* context, TfLiteNode* node) {
  const TfLiteTensor* x = apalu_tensor(context, node->inputs, 0);
  const TfLiteTensor* a = apalu_tensor(context, node->inputs, 1);
  const TfLiteTensor* b = apalu_tensor(context, node->inputs, 2);
  TfLiteTensor* out = apalu_tensor(context, node->outputs, 0);
  if (x->bytes == 0) return kTfLiteOk;
  if (x->data.f == NULL || a->data.f == NULL || b->data.f == NULL ||
      out->data.f == NULL) {
    APALU_REPORT(context, "APALU: a tensor has no data at Eval.");
    return kTfLiteError;
  }
  apalu_eval_plan((const ApaluPlan*)node->user_data, x->data.f, a->data.f,
                  b->data.f, out->data.f);
  return kTfLiteOk;
}

/* Zero padding after the registration: a runtime whose TfLiteRegistration has
 * grown by new trailing fields copies zeros (their defaults) for them. */
static struct {
  TfLiteRegistration registration;
  unsigned char reserved[256];
} apalu_registration = {
    {.init = apalu_init,
     .free = apalu_free,
     .prepare = apalu_prepare,
     .invoke = apalu_invoke},
    {0},
};

#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
APALU_EXTERN_C const TfLiteRegistration* KerasApalu_Register_APALU(void) {
  return &apalu_registration.registration;
}
