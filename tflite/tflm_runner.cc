// Runs a .tflite model with TFLite Micro and the APALU custom op, for the
// tests and `python -m keras_apalu.tflite run --runtime tflm-*`: not part of
// the kernel. The same source builds for the host and for Cortex-M under
// qemu-system-arm, where newlib's semihosting gives argv and host files.
//
//   tflm_runner MODEL.tflite INPUTS.bin OUTPUTS.bin
//
// INPUTS.bin holds samples back to back, each the size of the model's input
// tensor; every sample is run and the output tensor's bytes are appended to
// OUTPUTS.bin. Prints `tflm_runner: N samples, arena A bytes, ...` and, with
// -DAPALU_RUNNER_CMSDK_TIMER (MPS2 boards), the timer ticks per inference.
// The arena is a static array (no heap for the interpreter).

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apalu_micro.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#ifndef APALU_RUNNER_ARENA_BYTES
#define APALU_RUNNER_ARENA_BYTES (256 * 1024)
#endif
#ifndef APALU_RUNNER_MODEL_BYTES
#define APALU_RUNNER_MODEL_BYTES (512 * 1024)
#endif

namespace {

alignas(16) uint8_t arena[APALU_RUNNER_ARENA_BYTES];
alignas(16) uint8_t model_data[APALU_RUNNER_MODEL_BYTES];

#ifdef APALU_RUNNER_CMSDK_TIMER
// CMSDK APB timer 0 of the MPS2 boards (AN385/AN386/AN500): a 32-bit down
// counter at the 25 MHz peripheral clock. Under `qemu -icount shift=0` one
// instruction is 1 ns of virtual time, so a tick is 40 instructions.
volatile uint32_t* const kTimer = reinterpret_cast<volatile uint32_t*>(
    0x40000000u);
void TimerStart() {
  kTimer[0] = 0;           // CTRL: stop
  kTimer[2] = 0xFFFFFFFFu; // RELOAD
  kTimer[1] = 0xFFFFFFFFu; // VALUE
  kTimer[0] = 1;           // CTRL: enable
}
uint32_t TimerTicks() { return 0xFFFFFFFFu - kTimer[1]; }
#endif

int Fail(const char* message, const char* detail) {
  printf("tflm_runner: error: %s%s\n", message, detail);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    return Fail("usage: tflm_runner MODEL.tflite INPUTS.bin OUTPUTS.bin", "");
  }
  FILE* file = fopen(argv[1], "rb");
  if (file == nullptr) return Fail("cannot open ", argv[1]);
  const size_t model_size = fread(model_data, 1, sizeof model_data, file);
  const bool too_big = fgetc(file) != EOF;
  fclose(file);
  if (too_big) return Fail("model larger than the runner's buffer: ", argv[1]);

  const tflite::Model* model = tflite::GetModel(model_data);
  // The APALU op and the builtins the project's test models use.
  static tflite::MicroMutableOpResolver<16> resolver;
  if (resolver.AddCustom(KerasApalu_kOpName,
                         KerasApalu_Register_APALU_Micro()) != kTfLiteOk ||
      resolver.AddConv2D() != kTfLiteOk ||
      resolver.AddDepthwiseConv2D() != kTfLiteOk ||
      resolver.AddMaxPool2D() != kTfLiteOk ||
      resolver.AddFullyConnected() != kTfLiteOk ||
      resolver.AddReshape() != kTfLiteOk ||
      resolver.AddShape() != kTfLiteOk ||
      resolver.AddStridedSlice() != kTfLiteOk ||
      resolver.AddPack() != kTfLiteOk || resolver.AddRelu() != kTfLiteOk ||
      resolver.AddPrelu() != kTfLiteOk ||
      resolver.AddQuantize() != kTfLiteOk ||
      resolver.AddDequantize() != kTfLiteOk) {
    return Fail("could not fill the op resolver", "");
  }
  static tflite::MicroInterpreter interpreter(model, resolver, arena,
                                              sizeof arena);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    return Fail("AllocateTensors failed for ", argv[1]);
  }
  TfLiteTensor* input = interpreter.input(0);
  TfLiteTensor* output = interpreter.output(0);
  FILE* inputs = fopen(argv[2], "rb");
  if (inputs == nullptr) return Fail("cannot open ", argv[2]);
  FILE* outputs = fopen(argv[3], "wb");
  if (outputs == nullptr) return Fail("cannot create ", argv[3]);
  unsigned samples = 0;
  unsigned long long ticks = 0;
  while (fread(input->data.raw, 1, input->bytes, inputs) == input->bytes) {
#ifdef APALU_RUNNER_CMSDK_TIMER
    TimerStart();
#endif
    const TfLiteStatus status = interpreter.Invoke();
#ifdef APALU_RUNNER_CMSDK_TIMER
    ticks += TimerTicks();
#endif
    if (status != kTfLiteOk) return Fail("Invoke failed for ", argv[1]);
    if (fwrite(output->data.raw, 1, output->bytes, outputs) !=
        output->bytes) {
      return Fail("cannot write ", argv[3]);
    }
    ++samples;
  }
  fclose(inputs);
  fclose(outputs);
  printf("tflm_runner: %u samples, model %u bytes, arena %u bytes used of "
         "%u, ticks %llu\n",
         samples, static_cast<unsigned>(model_size),
         static_cast<unsigned>(interpreter.arena_used_bytes()),
         static_cast<unsigned>(sizeof arena), ticks);
  return 0;
}
