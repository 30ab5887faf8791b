/*
 * APALU as a classic TensorFlow Lite custom operator: the glue between the
 * TfLiteRegistration API (the Python interpreters, and C/C++ apps on Linux,
 * Android, iOS) and the math in apalu_core.c, which this file is linked with.
 *
 *     f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
 *     f(x) = b * (exp(x) - 1)                 for x <  0
 *
 * Inputs: x (any shape), a and b (each broadcastable to x: a scalar, one value
 * per channel of the last axis, or any shape whose dimensions are 1 or equal to
 * x's, right-aligned, as produced by every `shared_axes` of the Keras layer).
 * Output: same shape as x. All tensors float32, except in full-integer models:
 * there x and the output are int8 and a, b float32 or quantised int32 (a
 * lookup table per channel, built in Prepare; see apalu_core.c).
 *
 * Large float32 tensors are split over up to `recommended_num_threads` threads
 * of the interpreter (a small pool of POSIX threads, started on first use),
 * as XNNPACK splits the builtin ops around it; -DAPALU_NO_THREADS builds the
 * single-threaded kernel. Only this glue has threads: the core has none.
 *
 * By default the TFLite C types are declared below (only the fields this
 * kernel touches, in the public layout), checked by static assertions on sizes
 * and offsets. Inside an application that has the TFLite headers, build with
 * -DAPALU_USE_TFLITE_HEADERS to use the real declarations instead.
 *
 * Exported: `const TfLiteRegistration* KerasApalu_Register_APALU(void)`, to be
 * passed to `MutableOpResolver::AddCustom("APALU", ..., 1)`.
 */

#if !defined(_POSIX_C_SOURCE) && !defined(__APPLE__)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apalu_core.h"

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
typedef enum {
  kTfLiteNoType = 0,
  kTfLiteFloat32 = 1,
  kTfLiteInt32 = 2,
  kTfLiteInt8 = 9
} TfLiteType;

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
  void* AddTensors;
  void* GetNodeAndRegistration;
  void* ReplaceNodeSubsetsWithDelegateKernels;
  int recommended_num_threads; /* set by Interpreter::SetNumThreads */
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
APALU_ASSERT_LAYOUT(offsetof(TfLiteContext, recommended_num_threads) == 72);
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
APALU_ASSERT_LAYOUT(offsetof(TfLiteContext, recommended_num_threads) == 36);
#else
#error "APALU kernel: unknown pointer size; build with -DAPALU_USE_TFLITE_HEADERS"
#endif
APALU_ASSERT_LAYOUT(offsetof(TfLiteIntArray, data) == sizeof(int));
APALU_ASSERT_LAYOUT(sizeof(TfLiteStatus) == sizeof(int));
APALU_ASSERT_LAYOUT(sizeof(TfLiteType) == sizeof(int));
#endif /* APALU_USE_TFLITE_HEADERS */

#define APALU_REPORT(context, ...) (context)->ReportError((context), __VA_ARGS__)

/* Per-node state, from Init to Free. */
typedef struct ApaluNode {
  ApaluPlan plan;
  ApaluInt8 q8;
  void* int8_memory; /* the int8 tables (malloc'd), or NULL */
  int int8;          /* x is int8 */
  int ready;         /* set by a successful Prepare */
  int64_t elements[3]; /* of x, a and b, as Prepare saw them */
} ApaluNode;

/* The core reports through the context's ReportError. */
static void apalu_report(void* user, const char* format, ...) {
  TfLiteContext* context = (TfLiteContext*)user;
  char message[512];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  context->ReportError(context, "%s", message);
}

/* ---- threads ----------------------------------------------------------- */
/*
 * One process-wide pool. An invoke given more than one thread publishes its
 * job (a few parts per thread), wakes the workers and takes parts itself, as
 * each worker does, until none is left; then it waits for the parts in flight. A missed wake-up only means
 * the invoking thread does more parts itself. If another invoke holds the
 * pool (interpreters on several threads), this one runs on its own thread.
 */

/* Below this many elements per part, waking a thread costs more than the
 * part (about 0.45 ns per element with AVX-512). */
#define APALU_MIN_PER_PART 32768
#define APALU_MAX_THREADS 16

typedef struct ApaluJob {
  const ApaluPlan* plan;
  const float* x;
  const float* a;
  const float* b;
  float* out;
  int64_t total;
  int parts;   /* parts of [0, total), taken in turn by free threads */
  int threads; /* threads to run them on, the invoking one included */
} ApaluJob;

#if !defined(APALU_NO_THREADS) && (defined(__unix__) || defined(__APPLE__))
#include <pthread.h>
#include <time.h>

/* Part boundaries on multiples of 16 elements (whole vectors). */
static int64_t apalu_part_start(const ApaluJob* job, int part) {
  if (part >= job->parts) return job->total;
  return (job->total * part / job->parts) & ~(int64_t)15;
}

static void apalu_run_part(const ApaluJob* job, int part) {
  apalu_eval_range(job->plan, job->x, job->a, job->b, job->out,
                   apalu_part_start(job, part), apalu_part_start(job, part + 1));
}


static struct {
  pthread_mutex_t lock;  /* guards what follows (generation and pending are
                            also polled atomically without it) */
  pthread_cond_t wake;   /* a new job was published */
  pthread_cond_t done;   /* the last part of a job finished */
  pthread_mutex_t owner; /* held by the invoke using the pool */
  int workers;
  int fork_handler;
  unsigned generation; /* bumped per job; only compared for equality */
  ApaluJob job;
  int next_part;
  unsigned pending; /* parts not finished yet */
} apalu_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                0, 0, 0, {0, 0, 0, 0, 0, 0, 0, 0}, 0, 0};

/* Takes and runs parts until none is left; called and returns with `lock`. */
static void apalu_pool_work_locked(void) {
  while (apalu_pool.next_part < apalu_pool.job.parts) {
    const int part = apalu_pool.next_part++;
    const ApaluJob job = apalu_pool.job;
    pthread_mutex_unlock(&apalu_pool.lock);
    apalu_run_part(&job, part);
    pthread_mutex_lock(&apalu_pool.lock);
    /* Atomic: the invoking thread also polls it without the lock. */
    if (__atomic_sub_fetch(&apalu_pool.pending, 1, __ATOMIC_ACQ_REL) == 0) {
      pthread_cond_signal(&apalu_pool.done);
    }
  }
}

/* Before sleeping, a worker polls for the next job for this long: waking a
 * sleeping thread took ~30 us here, as long as a part of a 1x64x64x64 tensor,
 * and the invokes of one op often come back to back. Longer polls take a core
 * from whatever runs next (XNNPACK's own threads, for one): 20 us gave the
 * full 2x on that tensor at 2 threads without slowing the model around it. */
#ifndef APALU_SPIN_NS
#define APALU_SPIN_NS 20000
#endif

static inline void apalu_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static int64_t apalu_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Polls `*value` until `(*value == match) == until_equal`, or for at most
 * APALU_SPIN_NS. */
static void apalu_spin(const unsigned* value, unsigned match, int until_equal) {
  const int64_t deadline = apalu_now_ns() + APALU_SPIN_NS;
  for (int i = 1;; ++i) {
    if ((__atomic_load_n(value, __ATOMIC_ACQUIRE) == match) == until_equal) {
      return;
    }
    if (i % 64 == 0 && apalu_now_ns() > deadline) return;
    apalu_pause();
  }
}

static void* apalu_worker(void* unused) {
  (void)unused;
  pthread_mutex_lock(&apalu_pool.lock);
  unsigned seen = apalu_pool.generation;
  for (;;) {
    pthread_mutex_unlock(&apalu_pool.lock);
    apalu_spin(&apalu_pool.generation, seen, 0);
    pthread_mutex_lock(&apalu_pool.lock);
    while (apalu_pool.generation == seen) {
      pthread_cond_wait(&apalu_pool.wake, &apalu_pool.lock);
    }
    seen = apalu_pool.generation;
    apalu_pool_work_locked();
  }
  return NULL;
}

/* A forked child has none of the parent's threads: start afresh. */
static void apalu_pool_after_fork_in_child(void) {
  pthread_mutex_init(&apalu_pool.lock, NULL);
  pthread_cond_init(&apalu_pool.wake, NULL);
  pthread_cond_init(&apalu_pool.done, NULL);
  pthread_mutex_init(&apalu_pool.owner, NULL);
  apalu_pool.workers = 0;
  apalu_pool.next_part = 0;
  apalu_pool.pending = 0;
  apalu_pool.job.parts = 0;
}

/* Starts workers up to `count` (with `lock` held); keeps what it got. */
static void apalu_pool_grow_locked(int count) {
  if (!apalu_pool.fork_handler) {
    apalu_pool.fork_handler =
        pthread_atfork(NULL, NULL, apalu_pool_after_fork_in_child) == 0;
  }
  while (apalu_pool.workers < count) {
    pthread_attr_t attr;
    pthread_t thread;
    if (pthread_attr_init(&attr) != 0) return;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    const int failed = pthread_create(&thread, &attr, apalu_worker, NULL);
    pthread_attr_destroy(&attr);
    if (failed) return;
    ++apalu_pool.workers;
  }
}

/* Runs `job` on the pool; 0 if the pool is busy (nothing was run). */
static int apalu_pool_run(const ApaluJob* job) {
  if (pthread_mutex_trylock(&apalu_pool.owner) != 0) return 0;
  pthread_mutex_lock(&apalu_pool.lock);
  apalu_pool_grow_locked(job->threads - 1);
  apalu_pool.job = *job;
  apalu_pool.next_part = 0;
  apalu_pool.pending = job->parts;
  __atomic_store_n(&apalu_pool.generation, apalu_pool.generation + 1,
                   __ATOMIC_RELEASE);
  pthread_cond_broadcast(&apalu_pool.wake);
  apalu_pool_work_locked();
  pthread_mutex_unlock(&apalu_pool.lock);
  apalu_spin(&apalu_pool.pending, 0, 1);
  pthread_mutex_lock(&apalu_pool.lock);
  while (apalu_pool.pending > 0) {
    pthread_cond_wait(&apalu_pool.done, &apalu_pool.lock);
  }
  apalu_pool.job.parts = 0;
  pthread_mutex_unlock(&apalu_pool.lock);
  pthread_mutex_unlock(&apalu_pool.owner);
  return 1;
}
#else
static int apalu_pool_run(const ApaluJob* job) {
  (void)job;
  return 0;
}
#endif

/* Threads to use: no more than the interpreter's, each with at least
 * APALU_MIN_PER_PART elements. */
static int apalu_threads(int threads, int64_t total) {
  if (threads > APALU_MAX_THREADS) threads = APALU_MAX_THREADS;
  const int64_t by_size = total / APALU_MIN_PER_PART;
  if (by_size < threads) threads = (int)by_size;
  return threads > 1 ? threads : 1;
}

/* Parts: up to 4 per thread (so that a thread the OS holds back delays only a
 * small part), each of at least APALU_MIN_PER_PART elements. */
static int apalu_parts(int threads, int64_t total) {
  const int64_t by_size = total / APALU_MIN_PER_PART;
  return by_size < 4 * threads ? (int)by_size : 4 * threads;
}

static void apalu_eval(const ApaluPlan* plan, const float* x, const float* a,
                       const float* b, float* out, int64_t total,
                       int threads) {
  threads = apalu_threads(threads, total);
  const ApaluJob job = {plan, x, a, b, out, total, apalu_parts(threads, total),
                        threads};
  if (threads > 1 && apalu_pool_run(&job)) return;
  apalu_eval_range(plan, x, a, b, out, 0, total);
}

/* ---- TFLite kernel ----------------------------------------------------- */

static void* apalu_init(TfLiteContext* context, const char* buffer,
                        size_t length) {
  (void)context;
  (void)buffer;
  (void)length;
  return calloc(1, sizeof(ApaluNode));
}

static void apalu_int8_release(ApaluNode* node) {
  if (node == NULL) return;
  free(node->int8_memory);
  node->int8_memory = NULL;
  node->int8 = 0;
}

static void apalu_free(TfLiteContext* context, void* buffer) {
  (void)context;
  apalu_int8_release((ApaluNode*)buffer);
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

static ApaluShape apalu_shape(const TfLiteIntArray* dims) {
  ApaluShape shape = {-1, NULL};
  if (dims != NULL) {
    shape.rank = dims->size;
    shape.dims = dims->data;
  }
  return shape;
}

/* Whether `tensor` holds at least `elements` values of `element_size`. */
static int apalu_holds(const TfLiteTensor* tensor, int64_t elements,
                       int64_t element_size) {
  return tensor->data.data != NULL &&
         (int64_t)tensor->bytes / element_size >= elements;
}

/* Per-tensor scale and zero point (TfLiteQuantizationParams in the header). */
#ifdef APALU_USE_TFLITE_HEADERS
#define APALU_SCALE_FIELD params.scale
#define APALU_ZERO_FIELD params.zero_point
#else
#define APALU_SCALE_FIELD quant_scale
#define APALU_ZERO_FIELD quant_zero_point
#endif

static ApaluParam apalu_param(const TfLiteTensor* tensor) {
  ApaluParam param;
  param.data = tensor->data.data;
  param.is_int32 = tensor->type == kTfLiteInt32;
  param.scale = tensor->APALU_SCALE_FIELD;
  param.zero_point = tensor->APALU_ZERO_FIELD;
  return param;
}

/* int8 models: a and b must be constant and complete; the core checks the
 * scales and tabulates into a malloc'd block. */
static TfLiteStatus apalu_int8_prepare(TfLiteContext* context,
                                       const ApaluReporter* reporter,
                                       ApaluNode* state, TfLiteTensor** in,
                                       const TfLiteTensor* out) {
  for (int i = 1; i < 3; ++i) {
    if (in[i]->data.data == NULL) {
      APALU_REPORT(context,
                   "APALU: in an int8 model, input '%s' must be a constant "
                   "tensor.", apalu_input_name(i));
      return kTfLiteError;
    }
    if (!apalu_holds(in[i], state->elements[i], 4)) {
      APALU_REPORT(context,
                   "APALU: input '%s' holds %ld bytes, fewer than its shape "
                   "needs.", apalu_input_name(i), (long)in[i]->bytes);
      return kTfLiteError;
    }
  }
  apalu_int8_release(state);
  size_t bytes = 0;
  apalu_int8_layout(&state->plan, &state->q8, &bytes);
  state->int8_memory = malloc(bytes);
  if (state->int8_memory == NULL) {
    APALU_REPORT(context, "APALU: out of memory for the int8 tables.");
    return kTfLiteError;
  }
  if (apalu_int8_fill(reporter, &state->plan, &state->q8, state->int8_memory,
                      apalu_param(in[1]), apalu_param(in[2]),
                      in[0]->APALU_SCALE_FIELD, in[0]->APALU_ZERO_FIELD,
                      out->APALU_SCALE_FIELD,
                      out->APALU_ZERO_FIELD) != 0) {
    apalu_int8_release(state);
    return kTfLiteError;
  }
  state->int8 = 1;
  return kTfLiteOk;
}

static TfLiteStatus apalu_prepare(TfLiteContext* context, TfLiteNode* node) {
  ApaluNode* state = (ApaluNode*)node->user_data;
  if (state == NULL) {
    APALU_REPORT(context, "APALU: out of memory.");
    return kTfLiteError;
  }
  const ApaluReporter reporter = {apalu_report, context};
  state->ready = 0;
  if (node->inputs == NULL || node->outputs == NULL) {
    APALU_REPORT(context, "APALU: the node has no input or output list.");
    return kTfLiteError;
  }
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
  int int8 = 1; /* cleared below unless x is int8 */
  for (int i = 0; i < 3; ++i) {
    in[i] = apalu_tensor(context, node->inputs, i);
    if (in[i] == NULL) {
      APALU_REPORT(context, "APALU: input '%s' is missing.",
                   apalu_input_name(i));
      return kTfLiteError;
    }
    /* int8 models: x int8, a and b float32 or quantised int32. */
    const int int8_ok = int8 && (i == 0 ? in[i]->type == kTfLiteInt8
                                        : (in[i]->type == kTfLiteFloat32 ||
                                           in[i]->type == kTfLiteInt32));
    if (in[i]->type != kTfLiteFloat32 && !int8_ok) {
      APALU_REPORT(context,
                   "APALU: input '%s' must be float32, got TfLiteType %d. "
                   "(In int8 models x is int8 and a, b are float32 or "
                   "quantised int32.)",
                   apalu_input_name(i), (int)in[i]->type);
      return kTfLiteError;
    }
    if (int8 && i == 0 && in[i]->type != kTfLiteInt8) int8 = 0;
  }
  TfLiteTensor* out = apalu_tensor(context, node->outputs, 0);
  const TfLiteType out_type = int8 ? kTfLiteInt8 : kTfLiteFloat32;
  if (out == NULL || out->type != out_type) {
    APALU_REPORT(context, "APALU: the output must be a%s tensor, like x.",
                 int8 ? "n int8" : " float32");
    return kTfLiteError;
  }
  for (int i = 0; i < 3; ++i) {
    if (apalu_count_elements(&reporter, apalu_shape(in[i]->dims),
                             apalu_input_name(i), &state->elements[i]) != 0) {
      return kTfLiteError;
    }
    /* The runtime sets `bytes` from the shape (data may come later). */
    const int64_t size = in[i]->type == kTfLiteInt8 ? 1 : 4;
    if ((int64_t)(in[i]->bytes / (size_t)size) < state->elements[i]) {
      APALU_REPORT(context,
                   "APALU: input '%s' holds %ld bytes, fewer than its shape "
                   "needs.", apalu_input_name(i), (long)in[i]->bytes);
      return kTfLiteError;
    }
  }
  if (apalu_plan_broadcast(&reporter, apalu_shape(in[0]->dims),
                           apalu_shape(in[1]->dims), apalu_shape(in[2]->dims),
                           &state->plan) != 0) {
    return kTfLiteError;
  }

  if (int8) {
    if (apalu_int8_prepare(context, &reporter, state, in, out) !=
        kTfLiteOk) {
      return kTfLiteError;
    }
  } else {
    apalu_int8_release(state);
  }

  const TfLiteIntArray* x_dims = in[0]->dims;
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
  if (context->ResizeTensor(context, out, shape) != kTfLiteOk) {
    return kTfLiteError;
  }
  state->ready = 1;
  return kTfLiteOk;
}

static TfLiteStatus apalu_invoke(TfLiteContext* context, TfLiteNode* node) {
  const ApaluNode* state = (const ApaluNode*)node->user_data;
  if (state == NULL || !state->ready) {
    APALU_REPORT(context, "APALU: Eval without a successful Prepare.");
    return kTfLiteError;
  }
  const TfLiteTensor* x = apalu_tensor(context, node->inputs, 0);
  const TfLiteTensor* a = apalu_tensor(context, node->inputs, 1);
  const TfLiteTensor* b = apalu_tensor(context, node->inputs, 2);
  TfLiteTensor* out = apalu_tensor(context, node->outputs, 0);
  if (x == NULL || a == NULL || b == NULL || out == NULL) {
    APALU_REPORT(context, "APALU: a tensor is missing at Eval.");
    return kTfLiteError;
  }
  const int64_t size = state->int8 ? 1 : 4; /* bytes of x, out */
  if (state->elements[0] == 0) return kTfLiteOk;
  /* Sizes as Prepare planned them (a and b are 4-byte values either way;
   * in int8 models Eval reads only the tables). */
  if (!apalu_holds(x, state->elements[0], size) ||
      !apalu_holds(out, state->elements[0], size) ||
      (!state->int8 && (!apalu_holds(a, state->elements[1], 4) ||
                        !apalu_holds(b, state->elements[2], 4)))) {
    APALU_REPORT(context,
                 "APALU: a tensor has no data at Eval, or less than its "
                 "shape needs.");
    return kTfLiteError;
  }
  if (state->int8) {
    apalu_int8_eval(&state->q8, (const int8_t*)x->data.data,
                    (int8_t*)out->data.data);
    return kTfLiteOk;
  }
  int64_t total = 1;
  for (int d = 0; d < state->plan.rank; ++d) total *= state->plan.extent[d];
  apalu_eval(&state->plan, x->data.f, a->data.f, b->data.f, out->data.f,
             total, context->recommended_num_threads);
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

/* The attribute goes after `extern "C"`: C++ drops (with a warning) an
 * attribute written before the linkage specification, and the symbol would
 * then be hidden in a -fvisibility=hidden build. */
#if defined(__GNUC__)
#define APALU_VISIBLE __attribute__((visibility("default")))
#else
#define APALU_VISIBLE
#endif
APALU_EXTERN_C APALU_VISIBLE const TfLiteRegistration*
KerasApalu_Register_APALU(void) {
  return &apalu_registration.registration;
}
