/*
 * Runs a float32 .tflite model with the LiteRT 2 C API (libLiteRt.so) and
 * the APALU custom op (apalu_litert.c), for the tests and
 * `python -m keras_apalu.tflite run --runtime litert-c`: not part of the
 * kernel.
 *
 *   litert_runner MODEL.tflite INPUTS.bin OUTPUTS.bin IN_DIMS OUT_DIMS
 *
 * IN_DIMS / OUT_DIMS: the input and output shapes, e.g. 1,32,32,1 and 1,10.
 * INPUTS.bin holds float32 samples back to back; each output is appended to
 * OUTPUTS.bin. The LiteRT types and functions used are declared here from the
 * public layout of LiteRT's litert/c headers (no header needed).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int LiteRtStatus;
typedef struct LiteRtEnvironmentT* LiteRtEnvironment;
typedef struct LiteRtModelT* LiteRtModel;
typedef struct LiteRtOptionsT* LiteRtOptions;
typedef struct LiteRtCompiledModelT* LiteRtCompiledModel;
typedef struct LiteRtTensorBufferT* LiteRtTensorBuffer;
typedef struct LiteRtTensorBufferRequirementsT* LiteRtTensorBufferRequirements;

typedef struct {
  unsigned int rank : 7;
  unsigned int has_strides : 1;
  int32_t dimensions[8];
  uint32_t strides[8];
} LiteRtLayout;
typedef struct {
  int element_type;
  LiteRtLayout layout;
} LiteRtRankedTensorType;

LiteRtStatus LiteRtCreateEnvironment(int num_options, const void* options,
                                     LiteRtEnvironment* environment);
void LiteRtDestroyEnvironment(LiteRtEnvironment environment);
LiteRtStatus LiteRtCreateModelFromFile(LiteRtEnvironment environment,
                                       const char* filename,
                                       LiteRtModel* model);
void LiteRtDestroyModel(LiteRtModel model);
LiteRtStatus LiteRtCreateOptions(LiteRtOptions* options);
void LiteRtDestroyOptions(LiteRtOptions options);
LiteRtStatus LiteRtSetOptionsHardwareAccelerators(LiteRtOptions options,
                                                  int accelerators);
LiteRtStatus LiteRtCreateCompiledModel(LiteRtEnvironment environment,
                                       LiteRtModel model,
                                       LiteRtOptions options,
                                       LiteRtCompiledModel* compiled);
void LiteRtDestroyCompiledModel(LiteRtCompiledModel compiled);
LiteRtStatus LiteRtGetCompiledModelInputBufferRequirements(
    LiteRtCompiledModel compiled, size_t signature, size_t index,
    LiteRtTensorBufferRequirements* requirements);
LiteRtStatus LiteRtGetCompiledModelOutputBufferRequirements(
    LiteRtCompiledModel compiled, size_t signature, size_t index,
    LiteRtTensorBufferRequirements* requirements);
LiteRtStatus LiteRtCreateManagedTensorBufferFromRequirements(
    LiteRtEnvironment environment, const LiteRtRankedTensorType* type,
    LiteRtTensorBufferRequirements requirements, LiteRtTensorBuffer* buffer);
void LiteRtDestroyTensorBuffer(LiteRtTensorBuffer buffer);
LiteRtStatus LiteRtLockTensorBuffer(LiteRtTensorBuffer buffer,
                                    void** host_address, int lock_mode);
LiteRtStatus LiteRtUnlockTensorBuffer(LiteRtTensorBuffer buffer);
LiteRtStatus LiteRtRunCompiledModel(LiteRtCompiledModel compiled,
                                    size_t signature, size_t num_inputs,
                                    LiteRtTensorBuffer* inputs,
                                    size_t num_outputs,
                                    LiteRtTensorBuffer* outputs);
LiteRtStatus KerasApalu_LiteRt_Register(LiteRtOptions options);

static int fail(const char* what, int status) {
  printf("litert_runner: error: %s (LiteRtStatus %d)\n", what, status);
  return 1;
}

/* "1,32,32,1" -> a float32 ranked tensor type; returns its element count. */
static size_t parse_type(const char* text, LiteRtRankedTensorType* type) {
  memset(type, 0, sizeof *type);
  type->element_type = 1; /* kLiteRtElementTypeFloat32 */
  size_t count = 1;
  unsigned rank = 0;
  for (const char* p = text; *p && rank < 8;) {
    char* end;
    const long value = strtol(p, &end, 10);
    if (end == p || value <= 0) return 0;
    type->layout.dimensions[rank++] = (int32_t)value;
    count *= (size_t)value;
    p = *end == ',' ? end + 1 : end;
    if (*end != ',' && *end != '\0') return 0;
  }
  type->layout.rank = rank;
  return rank ? count : 0;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    printf("usage: litert_runner MODEL INPUTS OUTPUTS IN_DIMS OUT_DIMS\n");
    return 1;
  }
  LiteRtRankedTensorType in_type, out_type;
  const size_t in_count = parse_type(argv[4], &in_type);
  const size_t out_count = parse_type(argv[5], &out_type);
  if (in_count == 0 || out_count == 0) return fail("bad dims", 0);
  LiteRtEnvironment env = NULL;
  LiteRtModel model = NULL;
  LiteRtOptions options = NULL;
  LiteRtCompiledModel compiled = NULL;
  int status;
  if ((status = LiteRtCreateEnvironment(0, NULL, &env)) != 0) {
    return fail("LiteRtCreateEnvironment", status);
  }
  if ((status = LiteRtCreateModelFromFile(env, argv[1], &model)) != 0) {
    return fail("LiteRtCreateModelFromFile", status);
  }
  if ((status = LiteRtCreateOptions(&options)) != 0 ||
      (status = LiteRtSetOptionsHardwareAccelerators(options, 1)) != 0 ||
      (status = KerasApalu_LiteRt_Register(options)) != 0) {
    return fail("options / KerasApalu_LiteRt_Register", status);
  }
  if ((status = LiteRtCreateCompiledModel(env, model, options, &compiled)) !=
      0) {
    return fail("LiteRtCreateCompiledModel", status);
  }
  LiteRtTensorBufferRequirements in_req, out_req;
  LiteRtTensorBuffer input, output;
  if ((status = LiteRtGetCompiledModelInputBufferRequirements(
           compiled, 0, 0, &in_req)) != 0 ||
      (status = LiteRtGetCompiledModelOutputBufferRequirements(
           compiled, 0, 0, &out_req)) != 0 ||
      (status = LiteRtCreateManagedTensorBufferFromRequirements(
           env, &in_type, in_req, &input)) != 0 ||
      (status = LiteRtCreateManagedTensorBufferFromRequirements(
           env, &out_type, out_req, &output)) != 0) {
    return fail("tensor buffers", status);
  }
  FILE* inputs = fopen(argv[2], "rb");
  FILE* outputs = fopen(argv[3], "wb");
  if (inputs == NULL || outputs == NULL) return fail("cannot open files", 0);
  float* sample = (float*)malloc(in_count * sizeof(float));
  unsigned samples = 0;
  while (fread(sample, sizeof(float), in_count, inputs) == in_count) {
    void* address = NULL;
    if ((status = LiteRtLockTensorBuffer(input, &address, 1)) != 0) {
      return fail("lock input", status);
    }
    memcpy(address, sample, in_count * sizeof(float));
    LiteRtUnlockTensorBuffer(input);
    if ((status = LiteRtRunCompiledModel(compiled, 0, 1, &input, 1,
                                         &output)) != 0) {
      return fail("LiteRtRunCompiledModel", status);
    }
    if ((status = LiteRtLockTensorBuffer(output, &address, 0)) != 0) {
      return fail("lock output", status);
    }
    fwrite(address, sizeof(float), out_count, outputs);
    LiteRtUnlockTensorBuffer(output);
    ++samples;
  }
  free(sample);
  fclose(inputs);
  fclose(outputs);
  LiteRtDestroyTensorBuffer(input);
  LiteRtDestroyTensorBuffer(output);
  LiteRtDestroyCompiledModel(compiled);
  LiteRtDestroyOptions(options);
  LiteRtDestroyModel(model);
  LiteRtDestroyEnvironment(env);
  printf("litert_runner: %u samples\n", samples);
  return 0;
}
