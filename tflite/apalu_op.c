/*
 * APALU as a TensorFlow Lite custom operator (float32).
 *
 *     f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
 *     f(x) = b * (exp(x) - 1)                 for x <  0
 *
 * Inputs: x (any shape), a and b (each broadcastable to x: a scalar, one value
 * per channel of the last axis, or any shape whose dimensions are 1 or equal to
 * x's, right-aligned, as produced by every `shared_axes` of the Keras layer).
 * Output: same shape as x. All tensors float32, except in full-integer models:
 * there x and the output are int8 and a, b float32 or quantised int32 (see the
 * int8 section: a lookup table per channel, built in Prepare).
 *
 * One exp per element: with t = min(x, -1.702 x) <= 0 and e = exp(t),
 *     x >= 0:  f = a * x * (1 + 1 / (1 + e))   (e = exp(-1.702 x))
 *     x <  0:  f = b * expm1(x)                 (t = x)
 * exp and expm1 share one range reduction t = k ln2 + r, |r| <= ln2/2, and one
 * polynomial q = expm1(r), so expm1(t) = (2^k - 1) + 2^k q keeps full relative
 * accuracy near 0 (k = 0 there) and the loop has no branch to vectorise.
 *
 * Large float32 tensors are split over up to `recommended_num_threads` threads
 * of the interpreter (a small pool of POSIX threads, started on first use),
 * as XNNPACK splits the builtin ops around it; -DAPALU_NO_THREADS builds the
 * single-threaded kernel.
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

#define APALU_MAX_RANK 8
#define APALU_REPORT(context, ...) (context)->ReportError((context), __VA_ARGS__)

/* Broadcast plan, computed in Prepare: x viewed as `rank` coalesced axes, the
 * element stride of a and b along each (0 where they are broadcast). */
typedef struct ApaluPlan {
  int rank;
  int64_t extent[APALU_MAX_RANK];
  int64_t stride_a[APALU_MAX_RANK];
  int64_t stride_b[APALU_MAX_RANK];
  struct ApaluInt8* int8; /* int8 models only; see the int8 section */
  int ready;              /* set by a successful Prepare */
  int64_t elements[3];    /* of x, a and b, as Prepare saw them */
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

/* Elements [begin, end) of x in its flat order. The a/b offsets of the row
 * holding `begin` come from its multi-index; later rows advance them as an
 * odometer. */
APALU_CLONES
static void apalu_eval_range(const ApaluPlan* plan, const float* x,
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
  return calloc(1, sizeof(ApaluPlan));
}

static void apalu_int8_release(ApaluPlan* plan);

static void apalu_free(TfLiteContext* context, void* buffer) {
  (void)context;
  apalu_int8_release((ApaluPlan*)buffer);
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

/* The most elements a tensor may have: its byte size, and the int8 path's
 * 8 bytes of coefficients per element, then still fit a ptrdiff_t. */
#define APALU_MAX_ELEMENTS ((int64_t)(PTRDIFF_MAX / 8))

/* Element count of a tensor's shape; fails (with a report) on a missing
 * shape, a negative dimension or a count beyond APALU_MAX_ELEMENTS. */
static TfLiteStatus apalu_elements(TfLiteContext* context,
                                   const TfLiteIntArray* dims,
                                   const char* name, int64_t* count) {
  if (dims == NULL || dims->size < 0) {
    APALU_REPORT(context, "APALU: tensor '%s' has no shape.", name);
    return kTfLiteError;
  }
  int64_t n = 1;
  for (int d = 0; d < dims->size; ++d) {
    const int64_t extent = dims->data[d];
    if (extent < 0) {
      APALU_REPORT(context, "APALU: tensor '%s' has a negative dimension "
                   "(%d at axis %d).", name, dims->data[d], d);
      return kTfLiteError;
    }
    if (extent != 0 && n > APALU_MAX_ELEMENTS / extent) {
      /* Keep scanning: a later 0 makes the tensor empty, not huge. */
      for (int e = d + 1; e < dims->size; ++e) {
        if (dims->data[e] == 0) {
          *count = 0;
          return kTfLiteOk;
        }
      }
      APALU_REPORT(context, "APALU: tensor '%s' has too many elements.",
                   name);
      return kTfLiteError;
    }
    n *= extent;
  }
  *count = n;
  return kTfLiteOk;
}

/* Whether `tensor` holds at least `elements` 4-byte values. */
static int apalu_holds(const TfLiteTensor* tensor, int64_t elements,
                       int64_t element_size) {
  return tensor->data.data != NULL &&
         (int64_t)tensor->bytes / element_size >= elements;
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

#define APALU_INT8_MAX_TABLES 4096

/* Per-tensor scale and zero point (TfLiteQuantizationParams in the header). */
#ifdef APALU_USE_TFLITE_HEADERS
#define APALU_SCALE_FIELD params.scale
#define APALU_ZERO_FIELD params.zero_point
#else
#define APALU_SCALE_FIELD quant_scale
#define APALU_ZERO_FIELD quant_zero_point
#endif

typedef struct ApaluInt8 {
  int rank; /* x's coalesced axes */
  int64_t extent[APALU_MAX_RANK];
  int64_t stride[APALU_MAX_RANK]; /* in parameter positions; 0: broadcast */
  int64_t positions;              /* distinct (a, b) positions */
  int8_t* tables;                 /* positions x 256, or NULL */
  float* coefficients;            /* positions x 2: a / s_out, b / s_out */
  float unit[256];                /* g or expm1 at each input level */
  int32_t in_zero;
  int32_t out_zero;
} ApaluInt8;

static void apalu_int8_release(ApaluPlan* plan) {
  if (plan == NULL || plan->int8 == NULL) return;
  free(plan->int8->tables);
  free(plan->int8->coefficients);
  free(plan->int8);
  plan->int8 = NULL;
}

static double apalu_double(double x, double a, double b) {
  if (x >= 0.0) return a * (x + x / (1.0 + exp(-APALU_SIGMOID_SCALE * x)));
  return b * expm1(x);
}

/* Value of element `offset` of a float32 or quantised int32 parameter. */
static double apalu_int8_param(const TfLiteTensor* p, int64_t offset) {
  if (p->type == kTfLiteFloat32) return ((const float*)p->data.data)[offset];
  return (double)p->APALU_SCALE_FIELD *
         ((double)((const int32_t*)p->data.data)[offset] -
          p->APALU_ZERO_FIELD);
}

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

static TfLiteStatus apalu_int8_prepare(TfLiteContext* context,
                                       ApaluPlan* plan, TfLiteTensor** in,
                                       const TfLiteTensor* out,
                                       const int64_t* stride_a,
                                       const int64_t* stride_b) {
  const TfLiteTensor* x = in[0];
  for (int i = 1; i < 3; ++i) {
    if (in[i]->data.data == NULL) {
      APALU_REPORT(context,
                   "APALU: in an int8 model, input '%s' must be a constant "
                   "tensor.", apalu_input_name(i));
      return kTfLiteError;
    }
    if (!apalu_holds(in[i], plan->elements[i], 4)) {
      APALU_REPORT(context,
                   "APALU: input '%s' holds %ld bytes, fewer than its shape "
                   "needs.", apalu_input_name(i), (long)in[i]->bytes);
      return kTfLiteError;
    }
    if (in[i]->type == kTfLiteInt32 &&
        !apalu_scale_ok(in[i]->APALU_SCALE_FIELD)) {
      APALU_REPORT(context,
                   "APALU: int32 input '%s' needs a positive quantisation "
                   "scale (finite).", apalu_input_name(i));
      return kTfLiteError;
    }
  }
  if (!apalu_scale_ok(x->APALU_SCALE_FIELD) ||
      !apalu_scale_ok(out->APALU_SCALE_FIELD)) {
    APALU_REPORT(context,
                 "APALU: int8 x and output need per-tensor quantisation "
                 "parameters with a positive scale (finite).");
    return kTfLiteError;
  }
  apalu_int8_release(plan);
  ApaluInt8* q8 = (ApaluInt8*)calloc(1, sizeof(ApaluInt8));
  if (q8 == NULL) {
    APALU_REPORT(context, "APALU: out of memory.");
    return kTfLiteError;
  }
  plan->int8 = q8;
  q8->in_zero = x->APALU_ZERO_FIELD;
  q8->out_zero = out->APALU_ZERO_FIELD;

  /* Parameter space: x's axes along which a or b varies, row-major. */
  const TfLiteIntArray* dims = x->dims;
  const int rank = dims->size;
  int64_t stride[APALU_MAX_RANK];
  int64_t positions = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const int varies = stride_a[d] != 0 || stride_b[d] != 0;
    stride[d] = varies ? positions : 0;
    if (varies) positions *= dims->data[d];
  }
  q8->positions = positions;

  /* Eval's view of x: coalesced axes, as for the float plan. */
  q8->rank = 0;
  for (int d = 0; d < rank; ++d) {
    const int64_t extent = dims->data[d];
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

  const double s_in = x->APALU_SCALE_FIELD, s_out = out->APALU_SCALE_FIELD;
  const int use_tables = positions <= APALU_INT8_MAX_TABLES;
  if (use_tables) {
    /* + 64: a vector gather may read 3 bytes past the last table. */
    q8->tables = (int8_t*)malloc((size_t)positions * 256 + 64);
  } else {
    q8->coefficients = (float*)malloc((size_t)positions * 2 * sizeof(float));
    for (int level = 0; level < 256; ++level) {
      const double xv = s_in * ((double)(level - 128) - q8->in_zero);
      q8->unit[level] = (float)apalu_double(xv, 1.0, 1.0);
    }
  }
  if (q8->tables == NULL && q8->coefficients == NULL) {
    APALU_REPORT(context, "APALU: out of memory for the int8 tables.");
    return kTfLiteError;
  }
  /* Walk the parameter positions in order (an odometer over the axes where
   * a or b varies), tracking a's and b's element offsets. */
  int64_t index[APALU_MAX_RANK] = {0};
  int64_t a_off = 0, b_off = 0;
  for (int64_t p = 0; p < positions; ++p) {
    const double a = apalu_int8_param(in[1], a_off);
    const double b = apalu_int8_param(in[2], b_off);
    /* Also rejects NaN and infinite slopes. */
    if (!(fabs(a / s_out) <= 3.40282347e38) ||
        !(fabs(b / s_out) <= 3.40282347e38)) {
      APALU_REPORT(context,
                   "APALU: in an int8 model, a and b must be finite and "
                   "a / (output scale), b / (output scale) float32 "
                   "numbers.");
      apalu_int8_release(plan);
      return kTfLiteError;
    }
    if (use_tables) {
      int8_t* table = q8->tables + p * 256;
      for (int level = 0; level < 256; ++level) {
        const double xv = s_in * ((double)(level - 128) - q8->in_zero);
        const double y = round(apalu_double(xv, a, b) / s_out);
        table[level] = apalu_int8_saturate(y + q8->out_zero);
      }
    } else {
      q8->coefficients[2 * p] = (float)(a / s_out);
      q8->coefficients[2 * p + 1] = (float)(b / s_out);
    }
    for (int d = rank - 1; d >= 0; --d) {
      if (stride[d] == 0) continue;
      if (++index[d] < dims->data[d]) {
        a_off += stride_a[d];
        b_off += stride_b[d];
        break;
      }
      a_off -= stride_a[d] * (dims->data[d] - 1);
      b_off -= stride_b[d] * (dims->data[d] - 1);
      index[d] = 0;
    }
  }
  return kTfLiteOk;
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

static void apalu_int8_eval(const ApaluInt8* q8, const int8_t* x,
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

static TfLiteStatus apalu_prepare(TfLiteContext* context, TfLiteNode* node) {
  ApaluPlan* plan = (ApaluPlan*)node->user_data;
  if (plan == NULL) {
    APALU_REPORT(context, "APALU: out of memory.");
    return kTfLiteError;
  }
  plan->ready = 0;
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
    if (apalu_elements(context, in[i]->dims, apalu_input_name(i),
                       &plan->elements[i]) != kTfLiteOk) {
      return kTfLiteError;
    }
    /* The runtime sets `bytes` from the shape (data may come later). */
    const int64_t size = in[i]->type == kTfLiteInt8 ? 1 : 4;
    if ((int64_t)(in[i]->bytes / (size_t)size) < plan->elements[i]) {
      APALU_REPORT(context,
                   "APALU: input '%s' holds %ld bytes, fewer than its shape "
                   "needs.", apalu_input_name(i), (long)in[i]->bytes);
      return kTfLiteError;
    }
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

  if (int8) {
    if (apalu_int8_prepare(context, plan, in, out, stride_a, stride_b) !=
        kTfLiteOk) {
      return kTfLiteError;
    }
  } else {
    apalu_int8_release(plan);
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
  if (context->ResizeTensor(context, out, shape) != kTfLiteOk) {
    return kTfLiteError;
  }
  plan->ready = 1;
  return kTfLiteOk;
}

static TfLiteStatus apalu_invoke(TfLiteContext* context, TfLiteNode* node) {
  const ApaluPlan* plan = (const ApaluPlan*)node->user_data;
  if (plan == NULL || !plan->ready) {
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
  const int64_t size = plan->int8 != NULL ? 1 : 4; /* bytes of x, out */
  if (plan->elements[0] == 0) return kTfLiteOk;
  /* Sizes as Prepare planned them (a and b are 4-byte values either way;
   * in int8 models Eval reads only the tables). */
  if (!apalu_holds(x, plan->elements[0], size) ||
      !apalu_holds(out, plan->elements[0], size) ||
      (plan->int8 == NULL && (!apalu_holds(a, plan->elements[1], 4) ||
                              !apalu_holds(b, plan->elements[2], 4)))) {
    APALU_REPORT(context,
                 "APALU: a tensor has no data at Eval, or less than its "
                 "shape needs.");
    return kTfLiteError;
  }
  if (plan->int8 != NULL) {
    apalu_int8_eval(plan->int8, (const int8_t*)x->data.data,
                    (int8_t*)out->data.data);
    return kTfLiteOk;
  }
  int64_t total = 1;
  for (int d = 0; d < plan->rank; ++d) total *= plan->extent[d];
  apalu_eval(plan, x->data.f, a->data.f, b->data.f, out->data.f, total,
             context->recommended_num_threads);
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
