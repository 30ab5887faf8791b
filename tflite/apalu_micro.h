// APALU for TensorFlow Lite Micro: the registration a firmware adds to its
// op resolver (see apalu_micro.cc and docs/microcontrollers.md).
//
//   #include "apalu_micro.h"
//   tflite::MicroMutableOpResolver<8> resolver;
//   resolver.AddCustom(KerasApalu_kOpName, KerasApalu_Register_APALU_Micro());
//
// Build apalu_micro.cc (C++) and apalu_core.c (C) with the firmware, with the
// TFLM source tree on the include path.
#ifndef KERAS_APALU_MICRO_H_
#define KERAS_APALU_MICRO_H_

#include "tensorflow/lite/micro/micro_common.h"

// The custom op's name in the .tflite file ("APALU"). AddCustom keeps the
// pointer, so it points to a string with static storage.
extern const char* const KerasApalu_kOpName;

// The APALU kernel for TFLM: float32 and int8 (full-integer) models; per-node
// memory from the arena (AllocatePersistentBuffer), no heap, no threads.
TFLMRegistration* KerasApalu_Register_APALU_Micro();

#endif  // KERAS_APALU_MICRO_H_
