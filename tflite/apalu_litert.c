/*
 * APALU as a LiteRT 2 custom op kernel (the C API of libLiteRt.so:
 * LiteRtAddCustomOpKernelOption), float32: the glue between LiteRT's
 * LiteRtCustomOpKernel and the math in apalu_core.c.
 *
 *     f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
 *     f(x) = b * (exp(x) - 1)                 for x <  0
 *
 * LiteRT's custom kernels get tensor buffers, not a node: there is no
 * per-node state, so each Run reads the three input layouts, plans the
 * broadcast of a and b (a few hundred instructions) and runs; a and b must
 * be op inputs (they are: the converter makes them constant inputs). int8
 * models are refused (their tables would have to be rebuilt on every Run).
 *
 * As apalu_op.c does for TFLite, the few LiteRT C types used here are
 * declared below from the public layout of LiteRT's litert/c headers
 * (litert_common.h, litert_layout.h, litert_model_types.h,
 * litert_custom_op_kernel.h), checked by static assertions; no header is
 * needed. Exported:
 *     LiteRtStatus KerasApalu_LiteRt_Register(LiteRtOptions options)
 * which calls LiteRtAddCustomOpKernelOption(options, "APALU", 1, ...).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "apalu_core.h"

typedef int LiteRtStatus; /* an enum in the header; 0 is kLiteRtStatusOk */
#define APALU_LRT_OK 0
#define APALU_LRT_INVALID_ARGUMENT 1
#define APALU_LRT_RUNTIME_FAILURE 3
#define APALU_LRT_UNSUPPORTED 5
#define APALU_LRT_FLOAT32 1 /* kLiteRtElementTypeFloat32 */
#define APALU_LRT_LOCK_READ 0
#define APALU_LRT_LOCK_WRITE 1
#define APALU_LRT_MAX_RANK 8

typedef struct LiteRtTensorBufferT* LiteRtTensorBuffer;
typedef struct LiteRtOptionsT* LiteRtOptions;

typedef struct {
  unsigned int rank : 7;
  unsigned int has_strides : 1;
  int32_t dimensions[APALU_LRT_MAX_RANK];
  uint32_t strides[APALU_LRT_MAX_RANK];
} LiteRtLayout;

typedef struct {
  int element_type; /* LiteRtElementType, an int-sized enum */
  LiteRtLayout layout;
} LiteRtRankedTensorType;

typedef struct {
  LiteRtStatus (*Init)(void* user_data, const void* init_data,
                       size_t init_data_size);
  LiteRtStatus (*GetOutputLayouts)(void* user_data, size_t num_inputs,
                                   const LiteRtLayout* input_layouts,
                                   size_t num_outputs,
                                   LiteRtLayout* output_layouts);
  LiteRtStatus (*Run)(void* user_data, size_t num_inputs,
                      const LiteRtTensorBuffer* inputs, size_t num_outputs,
                      LiteRtTensorBuffer* outputs);
  LiteRtStatus (*Destroy)(void* user_data);
} LiteRtCustomOpKernel;

#ifdef __cplusplus
#define _Static_assert static_assert
extern "C" {
#endif
_Static_assert(sizeof(LiteRtLayout) == 68, "LiteRtLayout size");
_Static_assert(offsetof(LiteRtLayout, dimensions) == 4, "dimensions");
_Static_assert(offsetof(LiteRtLayout, strides) == 36, "strides");
_Static_assert(offsetof(LiteRtRankedTensorType, layout) == 4, "layout");

LiteRtStatus LiteRtGetTensorBufferTensorType(LiteRtTensorBuffer buffer,
                                             LiteRtRankedTensorType* type);
LiteRtStatus LiteRtLockTensorBuffer(LiteRtTensorBuffer buffer,
                                    void** host_address, int lock_mode);
LiteRtStatus LiteRtUnlockTensorBuffer(LiteRtTensorBuffer buffer);
LiteRtStatus LiteRtAddCustomOpKernelOption(
    LiteRtOptions options, const char* custom_op_name, int custom_op_version,
    const LiteRtCustomOpKernel* custom_op_kernel, void* user_data);
#ifdef __cplusplus
}
#endif

static void apalu_lrt_report(void* user, const char* format, ...) {
  (void)user;
  va_list args;
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
  fputc('\n', stderr);
}

static ApaluShape apalu_lrt_shape(const LiteRtLayout* layout) {
  ApaluShape shape;
  shape.rank = (int)layout->rank;
  shape.dims = (const int*)layout->dimensions;
  return shape;
}

static LiteRtStatus apalu_lrt_init(void* user, const void* data,
                                   size_t size) {
  (void)user;
  (void)data;
  (void)size;
  return APALU_LRT_OK;
}

static LiteRtStatus apalu_lrt_layouts(void* user, size_t num_inputs,
                                      const LiteRtLayout* inputs,
                                      size_t num_outputs,
                                      LiteRtLayout* outputs) {
  (void)user;
  if (num_inputs != 3 || num_outputs != 1) {
    apalu_lrt_report(NULL, "APALU: expected 3 inputs (x, a, b) and 1 "
                     "output, got %d and %d.", (int)num_inputs,
                     (int)num_outputs);
    return APALU_LRT_INVALID_ARGUMENT;
  }
  outputs[0] = inputs[0];
  outputs[0].has_strides = 0;
  return APALU_LRT_OK;
}

static LiteRtStatus apalu_lrt_run(void* user, size_t num_inputs,
                                  const LiteRtTensorBuffer* inputs,
                                  size_t num_outputs,
                                  LiteRtTensorBuffer* outputs) {
  (void)user;
  const ApaluReporter reporter = {apalu_lrt_report, NULL};
  if (num_inputs != 3 || num_outputs != 1) {
    apalu_lrt_report(NULL, "APALU: expected 3 inputs and 1 output.");
    return APALU_LRT_INVALID_ARGUMENT;
  }
  LiteRtTensorBuffer buffers[4] = {inputs[0], inputs[1], inputs[2],
                                   outputs[0]};
  LiteRtRankedTensorType types[4];
  for (int i = 0; i < 4; ++i) {
    if (LiteRtGetTensorBufferTensorType(buffers[i], &types[i]) != 0) {
      return APALU_LRT_RUNTIME_FAILURE;
    }
    if (types[i].element_type != APALU_LRT_FLOAT32) {
      apalu_lrt_report(NULL, "APALU: the LiteRT C API kernel runs float32 "
                       "models (use the classic TFLite kernel for int8).");
      return APALU_LRT_UNSUPPORTED;
    }
  }
  int64_t count[4];
  static const char* const names[4] = {"x", "a", "b", "output"};
  for (int i = 0; i < 4; ++i) {
    if (apalu_count_elements(&reporter, apalu_lrt_shape(&types[i].layout),
                             names[i], &count[i]) != 0) {
      return APALU_LRT_INVALID_ARGUMENT;
    }
  }
  ApaluPlan plan;
  if (count[3] != count[0] ||
      apalu_plan_broadcast(&reporter, apalu_lrt_shape(&types[0].layout),
                           apalu_lrt_shape(&types[1].layout),
                           apalu_lrt_shape(&types[2].layout), &plan) != 0) {
    if (count[3] != count[0]) {
      apalu_lrt_report(NULL, "APALU: the output must have x's shape.");
    }
    return APALU_LRT_INVALID_ARGUMENT;
  }
  void* data[4] = {NULL, NULL, NULL, NULL};
  LiteRtStatus status = APALU_LRT_OK;
  int locked = 0;
  for (; locked < 4; ++locked) {
    const int mode = locked == 3 ? APALU_LRT_LOCK_WRITE : APALU_LRT_LOCK_READ;
    if (LiteRtLockTensorBuffer(buffers[locked], &data[locked], mode) != 0 ||
        data[locked] == NULL) {
      status = APALU_LRT_RUNTIME_FAILURE;
      break;
    }
  }
  if (status == APALU_LRT_OK && plan.total > 0) {
    apalu_eval_range(&plan, (const float*)data[0], (const float*)data[1],
                     (const float*)data[2], (float*)data[3], 0, plan.total);
  }
  for (int i = 0; i < locked; ++i) LiteRtUnlockTensorBuffer(buffers[i]);
  return status;
}

static LiteRtStatus apalu_lrt_destroy(void* user) {
  (void)user;
  return APALU_LRT_OK;
}

static const LiteRtCustomOpKernel apalu_lrt_kernel = {
    apalu_lrt_init, apalu_lrt_layouts, apalu_lrt_run, apalu_lrt_destroy};

#if defined(__GNUC__)
#define APALU_LRT_VISIBLE __attribute__((visibility("default")))
#else
#define APALU_LRT_VISIBLE
#endif
#ifdef __cplusplus
extern "C"
#endif
APALU_LRT_VISIBLE LiteRtStatus KerasApalu_LiteRt_Register(
    LiteRtOptions options) {
  return LiteRtAddCustomOpKernelOption(options, "APALU", 1, &apalu_lrt_kernel,
                                       NULL);
}
