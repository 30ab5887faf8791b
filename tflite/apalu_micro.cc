// APALU as a TensorFlow Lite Micro custom op: the glue between TFLM's kernel
// API and the math in apalu_core.c.
//
//     f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
//     f(x) = b * (exp(x) - 1)                 for x <  0
//
// Inputs x, a, b (a and b broadcast to x, as in apalu_op.c); output like x.
// float32 models, and int8 models (x and output int8; a and b constant,
// float32 or quantised int32), where Prepare builds the core's lookup tables.
//
// TFLM differs from classic TFLite: no tensor resizing (the output must
// already have x's shape), per-node memory only from the arena through
// AllocatePersistentBuffer (in Init and Prepare), tensors at Prepare through
// MicroContext's temporary tensors, no heap and no threads. Built against the
// real TFLM headers (a firmware has the tree), so nothing is redeclared here.

#include "apalu_micro.h"

#include <stdarg.h>
#include <string.h>

#include "apalu_core.h"
#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/kernels/kernel_util.h"
#include "tensorflow/lite/micro/micro_context.h"
#include "tensorflow/lite/micro/micro_log.h"

const char* const KerasApalu_kOpName = "APALU";

namespace {

// Per-node state, in the arena for the interpreter's lifetime.
struct ApaluMicroNode {
  ApaluPlan plan;
  ApaluInt8 q8;
  bool int8;
};

void Report(void* user, const char* format, ...) {
  (void)user;
  va_list args;
  va_start(args, format);
  VMicroPrintf(format, args);
  va_end(args);
}

const char* InputName(int i) { return i == 0 ? "x" : (i == 1 ? "a" : "b"); }

ApaluShape Shape(const TfLiteIntArray* dims) {
  ApaluShape shape = {-1, nullptr};
  if (dims != nullptr) {
    shape.rank = dims->size;
    shape.dims = dims->data;
  }
  return shape;
}

void* Init(TfLiteContext* context, const char* buffer, size_t length) {
  (void)buffer;
  (void)length;
  void* memory = context->AllocatePersistentBuffer(context,
                                                   sizeof(ApaluMicroNode));
  if (memory != nullptr) memset(memory, 0, sizeof(ApaluMicroNode));
  return memory;
}

// Checks the node against the op's contract and plans it; the temporary
// tensors are released by the caller.
TfLiteStatus PrepareTensors(TfLiteContext* context, ApaluMicroNode* state,
                            TfLiteTensor** in, TfLiteTensor* out) {
  const ApaluReporter reporter = {Report, nullptr};
  for (int i = 0; i < 3; ++i) {
    if (in[i] == nullptr) {
      MicroPrintf("APALU: input '%s' is missing.", InputName(i));
      return kTfLiteError;
    }
  }
  const bool int8 = in[0]->type == kTfLiteInt8;
  for (int i = 0; i < 3; ++i) {
    const bool ok =
        in[i]->type == kTfLiteFloat32 ||
        (int8 && (i == 0 || in[i]->type == kTfLiteInt32));
    if (!ok) {
      MicroPrintf("APALU: input '%s' must be float32 (int8 models: x int8, "
                  "a and b float32 or int32), got TfLiteType %d.",
                  InputName(i), static_cast<int>(in[i]->type));
      return kTfLiteError;
    }
  }
  if (out == nullptr || out->type != in[0]->type) {
    MicroPrintf("APALU: the output must have x's type.");
    return kTfLiteError;
  }
  int64_t count[3], out_count = 0;
  for (int i = 0; i < 3; ++i) {
    if (apalu_count_elements(&reporter, Shape(in[i]->dims), InputName(i),
                             &count[i]) != 0) {
      return kTfLiteError;
    }
  }
  // TFLM cannot resize: the output's shape comes from the model.
  if (apalu_count_elements(&reporter, Shape(out->dims), "output",
                           &out_count) != 0 ||
      out_count != count[0] || out->dims->size != in[0]->dims->size) {
    MicroPrintf("APALU: the output must have x's shape.");
    return kTfLiteError;
  }
  if (apalu_plan_broadcast(&reporter, Shape(in[0]->dims), Shape(in[1]->dims),
                           Shape(in[2]->dims), &state->plan) != 0) {
    return kTfLiteError;
  }
  state->int8 = int8;
  if (!int8) return kTfLiteOk;
  ApaluParam params[2];
  for (int i = 1; i < 3; ++i) {
    if (in[i]->data.data == nullptr) {
      MicroPrintf("APALU: in an int8 model, input '%s' must be a constant "
                  "tensor.", InputName(i));
      return kTfLiteError;
    }
    params[i - 1].data = in[i]->data.data;
    params[i - 1].is_int32 = in[i]->type == kTfLiteInt32;
    params[i - 1].scale = in[i]->params.scale;
    params[i - 1].zero_point = in[i]->params.zero_point;
  }
  size_t bytes = 0;
  apalu_int8_layout(&state->plan, &state->q8, &bytes);
  void* tables = context->AllocatePersistentBuffer(context, bytes);
  if (tables == nullptr) {
    MicroPrintf("APALU: the arena has no room for %u bytes of int8 tables.",
                static_cast<unsigned>(bytes));
    return kTfLiteError;
  }
  if (apalu_int8_fill(&reporter, &state->plan, &state->q8, tables, params[0],
                      params[1], in[0]->params.scale,
                      in[0]->params.zero_point, out->params.scale,
                      out->params.zero_point) != 0) {
    return kTfLiteError;
  }
  return kTfLiteOk;
}

TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) {
  auto* state = static_cast<ApaluMicroNode*>(node->user_data);
  if (state == nullptr) {
    MicroPrintf("APALU: the arena has no room for the node's state.");
    return kTfLiteError;
  }
  if (node->inputs->size != 3 || node->outputs->size != 1) {
    MicroPrintf("APALU: expected 3 inputs (x, a, b) and 1 output, got %d "
                "and %d.", node->inputs->size, node->outputs->size);
    return kTfLiteError;
  }
  tflite::MicroContext* micro_context = tflite::GetMicroContext(context);
  TfLiteTensor* in[3];
  for (int i = 0; i < 3; ++i) {
    in[i] = micro_context->AllocateTempInputTensor(node, i);
  }
  TfLiteTensor* out = micro_context->AllocateTempOutputTensor(node, 0);
  const TfLiteStatus status = PrepareTensors(context, state, in, out);
  for (int i = 0; i < 3; ++i) {
    if (in[i] != nullptr) micro_context->DeallocateTempTfLiteTensor(in[i]);
  }
  if (out != nullptr) micro_context->DeallocateTempTfLiteTensor(out);
  return status;
}

TfLiteStatus Eval(TfLiteContext* context, TfLiteNode* node) {
  const auto* state = static_cast<const ApaluMicroNode*>(node->user_data);
  const TfLiteEvalTensor* x = tflite::micro::GetEvalInput(context, node, 0);
  TfLiteEvalTensor* out = tflite::micro::GetEvalOutput(context, node, 0);
  if (state->plan.total == 0) return kTfLiteOk;
  if (state->int8) {
    apalu_int8_eval(&state->q8, tflite::micro::GetTensorData<int8_t>(x),
                    tflite::micro::GetTensorData<int8_t>(out));
    return kTfLiteOk;
  }
  const TfLiteEvalTensor* a = tflite::micro::GetEvalInput(context, node, 1);
  const TfLiteEvalTensor* b = tflite::micro::GetEvalInput(context, node, 2);
  apalu_eval_range(&state->plan, tflite::micro::GetTensorData<float>(x),
                   tflite::micro::GetTensorData<float>(a),
                   tflite::micro::GetTensorData<float>(b),
                   tflite::micro::GetTensorData<float>(out), 0,
                   state->plan.total);
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration* KerasApalu_Register_APALU_Micro() {
  static TFLMRegistration registration =
      tflite::micro::RegisterOp(Init, Prepare, Eval);
  return &registration;
}
