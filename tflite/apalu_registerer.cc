// Registers the APALU kernel (apalu_op.c) with a tflite::MutableOpResolver.
//
// `KerasApalu_RegisterAPALU` has the signature that the Python interpreters'
// `custom_op_registerers=["KerasApalu_RegisterAPALU"]` look up by name. It calls
// `tflite::MutableOpResolver::AddCustom(const char*, const TfLiteRegistration*,
// int)`, which the Python build resolves from the tensorflow wheel's
// libtensorflow_cc.so.2. Only that member function's symbol is needed, so the
// class is declared here without its data members (no TFLite header).
//
// In a C++ application that has the TFLite headers, skip this file and write
//   resolver.AddCustom("APALU", KerasApalu_Register_APALU(), 1);

struct TfLiteRegistration;

extern "C" const TfLiteRegistration* KerasApalu_Register_APALU(void);

namespace tflite {
class MutableOpResolver {
 public:
  void AddCustom(const char* name, const TfLiteRegistration* registration,
                 int version);
};
}  // namespace tflite

extern "C" __attribute__((visibility("default"))) void KerasApalu_RegisterAPALU(
    tflite::MutableOpResolver* resolver) {
  resolver->AddCustom("APALU", KerasApalu_Register_APALU(), 1);
}
