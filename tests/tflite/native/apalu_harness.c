/*
 * A stand-alone test harness for the APALU TFLite kernel (tflite/apalu_op.c),
 * with no TFLite runtime: it sets up TfLiteContext, TfLiteNode and the
 * tensors by hand (with the kernel's own declarations of those types, which
 * including the kernel's source brings in), calls the registration's init,
 * prepare, invoke and free as an interpreter would, and compares every
 * output with a float64 reference written here from APALU's definition:
 *
 *     f(x) = a (x + x sigmoid(1.702 x))   for x >= 0
 *     f(x) = b (exp(x) - 1)               for x <  0
 *
 * (int8: clamp(round(f(s_in (q - z_in)) / s_out) + z_out), within one step).
 *
 * Built natively with AddressSanitizer and UndefinedBehaviorSanitizer, and
 * cross-built for aarch64 and armhf and run under qemu, by
 * tests/tflite/test_kernel_native.py. Every tensor buffer is malloc'd with
 * its exact size, so a read or write past a tensor is an ASan error.
 *
 * Cases: every input shape class (rank 0 to 8, size-1 and size-0 axes, sizes
 * below and above the threading threshold), every slope broadcast (each
 * subset of x's axes kept, right-aligned shorter shapes, a and b laid out
 * differently), thread counts 1 to 17, the int8 paths (one shared table,
 * per-channel tables, the 64x64 block path, the table-free path, float32 and
 * int32 slopes), re-preparing a node for a new shape, several threads
 * invoking at once, and malformed nodes, each of which must be refused
 * with an "APALU:" error.
 *
 * Usage: apalu_harness [--quick]   (--quick: fewer thread counts, big shapes
 *        and slope layouts, for qemu)
 * Prints a summary line and exits 1 on any failure.
 */

#include "apalu_op.c"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

/* ---- a minimal runtime -------------------------------------------------- */

#define MAX_TENSORS 8

typedef struct Runtime {
  TfLiteContext context; /* first: the callbacks cast back to Runtime */
  TfLiteTensor tensors[MAX_TENSORS];
  char error[512];
  int reported;
} Runtime;

static void report_error(TfLiteContext* context, const char* format, ...) {
  Runtime* rt = (Runtime*)context;
  va_list args;
  va_start(args, format);
  vsnprintf(rt->error, sizeof rt->error, format, args);
  va_end(args);
  rt->reported += 1;
}

static TfLiteIntArray* int_array(int size, const int* values) {
  TfLiteIntArray* array =
      (TfLiteIntArray*)malloc(sizeof(TfLiteIntArray) + sizeof(int) * size);
  array->size = size;
  if (size > 0) memcpy(array->data, values, sizeof(int) * size);
  return array;
}

static int64_t count_of(const TfLiteIntArray* dims) {
  int64_t n = 1;
  for (int d = 0; d < dims->size; ++d) n *= dims->data[d];
  return n;
}

static size_t type_size(TfLiteType type) {
  return type == kTfLiteInt8 ? 1 : 4;
}

/* As the interpreter does: the tensor takes `new_size`, and its buffer is
 * reallocated with exactly the bytes the shape needs (NULL when empty). */
static TfLiteStatus resize_tensor(TfLiteContext* context, TfLiteTensor* tensor,
                                  TfLiteIntArray* new_size) {
  free(tensor->dims);
  tensor->dims = new_size;
  free(tensor->data.data);
  tensor->data.data = NULL;
  const int64_t count = count_of(new_size);
  if (count < 0 || count > ((int64_t)1 << 28)) { /* as an arena would */
    context->ReportError(context, "harness: cannot allocate %lld elements.",
                         (long long)count);
    return kTfLiteError;
  }
  tensor->bytes = (size_t)count * type_size(tensor->type);
  tensor->data.data = tensor->bytes ? malloc(tensor->bytes) : NULL;
  return kTfLiteOk;
}

static void runtime_init(Runtime* rt, int threads) {
  memset(rt, 0, sizeof *rt);
  rt->context.tensors = rt->tensors;
  rt->context.tensors_size = MAX_TENSORS;
  rt->context.ResizeTensor = resize_tensor;
  rt->context.ReportError = report_error;
  rt->context.recommended_num_threads = threads;
}

/* Tensor `i` with the given type and shape and an exact-size buffer. */
static void set_tensor(Runtime* rt, int i, TfLiteType type, int rank,
                       const int* shape) {
  TfLiteTensor* t = &rt->tensors[i];
  free(t->dims);
  free(t->data.data);
  t->type = type;
  t->dims = int_array(rank, shape);
  t->bytes = (size_t)count_of(t->dims) * type_size(type);
  t->data.data = t->bytes ? malloc(t->bytes) : NULL;
  t->quant_scale = 0.0f;
  t->quant_zero_point = 0;
}

static void runtime_free(Runtime* rt) {
  for (int i = 0; i < MAX_TENSORS; ++i) {
    free(rt->tensors[i].dims);
    free(rt->tensors[i].data.data);
  }
}

/* ---- reference ---------------------------------------------------------- */

static double reference(double x, double a, double b) {
  if (isnan(x)) return x;
  if (x >= 0.0) {
    return a * (x + x / (1.0 + exp(-1.702 * x)));
  }
  return b * expm1(x);
}

/* Offset in a parameter of shape `p` (right-aligned to x's rank) of the
 * element of x at `index`. */
static int64_t param_offset(int x_rank, const int* index, int p_rank,
                            const int* p_shape) {
  int64_t offset = 0;
  for (int d = 0; d < p_rank; ++d) {
    const int xd = x_rank - p_rank + d;
    offset = offset * p_shape[d] + (p_shape[d] == 1 ? 0 : index[xd]);
  }
  return offset;
}

/* ---- random numbers (xorshift64*, seeded: deterministic) ---------------- */

/* Per thread, so that the concurrent cases do not share it. */
static _Thread_local uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng_next(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717u;
}

static double uniform(double low, double high) {
  return low + (high - low) * (double)(rng_next() >> 11) / 9007199254740992.0;
}

static const float kSpecial[] = {0.0f, -0.0f, 1e-7f, -1e-7f, 1e-3f, -1e-3f,
                                 0.3466f, -0.3466f, 20.0f, -20.0f, 60.0f,
                                 -60.0f, -87.5f, -100.0f, 88.0f, 1e4f,
                                 INFINITY, -INFINITY, NAN};
#define N_SPECIAL ((int)(sizeof kSpecial / sizeof kSpecial[0]))

/* ---- bookkeeping -------------------------------------------------------- */

/* Counters, also bumped by the concurrent cases' threads. */
static int cases, failures, float_cases, int8_cases, error_cases;
#define COUNT(counter) __atomic_add_fetch(&(counter), 1, __ATOMIC_RELAXED)

static void fail(const char* what, const char* detail) {
  if (COUNT(failures) <= 20) printf("FAIL %s: %s\n", what, detail);
}

static void describe(char* out, size_t size, const char* kind, int rank,
                     const int* shape, int a_rank, const int* a_shape,
                     int b_rank, const int* b_shape, int threads) {
  int n = snprintf(out, size, "%s x(", kind);
  for (int d = 0; d < rank; ++d) n += snprintf(out + n, size - n, "%d,", shape[d]);
  n += snprintf(out + n, size - n, ") a(");
  for (int d = 0; d < a_rank; ++d) n += snprintf(out + n, size - n, "%d,", a_shape[d]);
  n += snprintf(out + n, size - n, ") b(");
  for (int d = 0; d < b_rank; ++d) n += snprintf(out + n, size - n, "%d,", b_shape[d]);
  snprintf(out + n, size - n, ") threads %d", threads);
}

/* ---- one float32 case --------------------------------------------------- */

typedef struct Shape {
  int rank;
  int dims[APALU_MAX_RANK];
} Shape;

/* Fills x (specials first, then normal-ish values), a and b, runs the node
 * (twice when `repeat`), and compares with the reference. Returns 0 on
 * success. */
static int run_float(const Shape* x_shape, const Shape* a_shape,
                     const Shape* b_shape, int threads, double slope_low,
                     const char* name) {
  Runtime rt;
  runtime_init(&rt, threads);
  set_tensor(&rt, 0, kTfLiteFloat32, x_shape->rank, x_shape->dims);
  set_tensor(&rt, 1, kTfLiteFloat32, a_shape->rank, a_shape->dims);
  set_tensor(&rt, 2, kTfLiteFloat32, b_shape->rank, b_shape->dims);
  set_tensor(&rt, 3, kTfLiteFloat32, 0, NULL); /* resized by Prepare */
  const int64_t n = count_of(rt.tensors[0].dims);
  float* x = rt.tensors[0].data.f;
  float* a = rt.tensors[1].data.f;
  float* b = rt.tensors[2].data.f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = i < N_SPECIAL ? kSpecial[i] : (float)uniform(-12.0, 12.0);
  }
  for (int64_t i = 0; i < count_of(rt.tensors[1].dims); ++i) {
    a[i] = (float)uniform(slope_low, 2.0);
  }
  for (int64_t i = 0; i < count_of(rt.tensors[2].dims); ++i) {
    b[i] = (float)uniform(slope_low, 2.0);
  }

  const TfLiteRegistration* reg = KerasApalu_Register_APALU();
  const int in_idx[3] = {0, 1, 2}, out_idx[1] = {3};
  TfLiteNode node;
  memset(&node, 0, sizeof node);
  node.inputs = int_array(3, in_idx);
  node.outputs = int_array(1, out_idx);
  node.user_data = reg->init(&rt.context, NULL, 0);
  char detail[512];
  describe(detail, sizeof detail, name, x_shape->rank, x_shape->dims,
           a_shape->rank, a_shape->dims, b_shape->rank, b_shape->dims,
           threads);
  int bad = 0;
  for (int round = 0; round < 2 && !bad; ++round) {
    COUNT(cases);
    COUNT(float_cases);
    if (reg->prepare(&rt.context, &node) != kTfLiteOk ||
        reg->invoke(&rt.context, &node) != kTfLiteOk) {
      char msg[1200];
      snprintf(msg, sizeof msg, "%s: error '%s'", detail, rt.error);
      fail("float", msg);
      bad = 1;
      break;
    }
    const TfLiteTensor* out = &rt.tensors[3];
    if (out->dims->size != x_shape->rank || count_of(out->dims) != n) {
      fail("float shape", detail);
      bad = 1;
      break;
    }
    int index[APALU_MAX_RANK] = {0};
    for (int64_t i = 0; i < n; ++i) {
      const double av = a[param_offset(x_shape->rank, index, a_shape->rank,
                                       a_shape->dims)];
      const double bv = b[param_offset(x_shape->rank, index, b_shape->rank,
                                       b_shape->dims)];
      const double want = reference(x[i], av, bv);
      const double got = out->data.f[i];
      int ok;
      if (isnan(want) || isinf(want)) {
        ok = isnan(want) ? isnan(got) : got == want;
      } else {
        ok = fabs(got - want) <= 2e-6 * fabs(want) + 1e-6;
      }
      if (!ok) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s: element %lld x=%.9g got %.9g want %.9g",
                 detail, (long long)i, (double)x[i], got, want);
        fail("float value", msg);
        bad = 1;
        break;
      }
      for (int d = x_shape->rank - 1; d >= 0; --d) {
        if (++index[d] < x_shape->dims[d]) break;
        index[d] = 0;
      }
    }
  }
  reg->free(&rt.context, node.user_data);
  free(node.inputs);
  free(node.outputs);
  runtime_free(&rt);
  return bad;
}

/* Every slope layout for x's shape (none may have a higher rank than x):
 * each subset of x's axes kept (the others 1), at full rank; the same
 * right-aligned without its leading 1s; a scalar and (1,). */
static int slope_layouts(const Shape* x, Shape* layouts, int max) {
  int count = 0;
  layouts[count++].rank = 0;
  if (x->rank >= 1) {
    layouts[count].rank = 1;
    layouts[count++].dims[0] = 1;
  }
  const int subsets = x->rank <= 5 ? 1 << x->rank : 4;
  for (int mask = 0; mask < subsets && count + 2 < max; ++mask) {
    Shape full;
    full.rank = x->rank;
    int first_kept = x->rank;
    for (int d = 0; d < x->rank; ++d) {
      /* Beyond 5 axes: the first 2 subsets below plus all-kept, last-kept. */
      int kept = x->rank <= 5 ? (mask >> (x->rank - 1 - d)) & 1
                              : (mask == 1 ? d == x->rank - 1
                                           : (mask == 2 || mask == 3));
      full.dims[d] = kept ? x->dims[d] : 1;
      if (kept && first_kept == x->rank) first_kept = d;
    }
    layouts[count++] = full;
    if (first_kept > 0 && first_kept < x->rank) { /* drop leading 1s */
      Shape cut;
      cut.rank = x->rank - first_kept;
      memcpy(cut.dims, full.dims + first_kept, sizeof(int) * cut.rank);
      layouts[count++] = cut;
    }
  }
  return count;
}

static void float_cases_all(int quick) {
  static const Shape shapes[] = {
      {0, {0}},
      {1, {1}},
      {1, {7}},
      {1, {0}},
      {2, {1, 1}},
      {2, {3, 5}},
      {2, {0, 5}},
      {3, {2, 1, 9}},
      {4, {2, 5, 4, 3}},
      {4, {2, 0, 3, 4}},
      {5, {2, 3, 1, 4, 5}},
      {8, {2, 1, 2, 1, 2, 1, 2, 3}},
  };
  Shape layouts[80];
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
    const int n = slope_layouts(&shapes[s], layouts, 80);
    for (int i = 0; i < n; ++i) {
      /* a and b alike, and b in the next layout. */
      run_float(&shapes[s], &layouts[i], &layouts[i], 1 + (i % 3), 0.05,
                "float");
      run_float(&shapes[s], &layouts[i], &layouts[(i + 1) % n], 4, -1.0,
                "float");
    }
  }
  /* Large enough to be split over threads, odd sizes (parts start inside
   * rows), at every thread count from 1 to beyond the pool's maximum. */
  static const Shape big[] = {
      {4, {3, 37, 41, 29}},
      {1, {65536}},
      {2, {65535, 1}},
      {2, {2, 70001}},
  };
  static const int all_threads[] = {1, 2, 3, 4, 5, 8, 16, 17};
  static const int quick_threads[] = {1, 3, 17};
  const int* threads = quick ? quick_threads : all_threads;
  const int n_threads = quick ? 3 : 8;
  for (size_t s = 0; s < sizeof big / sizeof big[0]; ++s) {
    if (quick && (s == 1 || s == 2)) continue; /* alike: the odd sizes do */
    const int n = slope_layouts(&big[s], layouts, 80);
    for (int t = 0; t < n_threads; ++t) {
      for (int i = quick ? t % 4 : 0; i < n; i += quick ? 4 : 1) {
        run_float(&big[s], &layouts[i], &layouts[(i + t) % n], threads[t],
                  0.05, "float-threads");
      }
    }
  }
}

/* ---- int8 --------------------------------------------------------------- */

static double clamp_round(double v, double scale, int zero) {
  double q = round(v / scale) + zero;
  return q < -128 ? -128 : (q > 127 ? 127 : q);
}

/* x int8 with all 256 levels along axis `level_axis` where it fits, a and b
 * float32 or int32 (quantised per tensor, zero point `param_zero`). */
static void run_int8(const Shape* x_shape, const Shape* a_shape,
                     const Shape* b_shape, TfLiteType param_type,
                     float in_scale, int in_zero, float out_scale,
                     int out_zero) {
  Runtime rt;
  runtime_init(&rt, 1);
  set_tensor(&rt, 0, kTfLiteInt8, x_shape->rank, x_shape->dims);
  set_tensor(&rt, 1, param_type, a_shape->rank, a_shape->dims);
  set_tensor(&rt, 2, param_type, b_shape->rank, b_shape->dims);
  set_tensor(&rt, 3, kTfLiteInt8, 0, NULL);
  rt.tensors[0].quant_scale = in_scale;
  rt.tensors[0].quant_zero_point = in_zero;
  rt.tensors[3].quant_scale = out_scale;
  rt.tensors[3].quant_zero_point = out_zero;
  const int64_t n = count_of(rt.tensors[0].dims);
  int8_t* x = (int8_t*)rt.tensors[0].data.data;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = (int8_t)(i < 256 ? i - 128 : (int)(rng_next() >> 56) - 128);
  }
  /* Slope values, as float64, for the reference. */
  double* values[2];
  for (int p = 1; p <= 2; ++p) {
    TfLiteTensor* t = &rt.tensors[p];
    const int64_t count = count_of(t->dims);
    values[p - 1] = (double*)malloc(sizeof(double) * (count ? count : 1));
    if (param_type == kTfLiteFloat32) {
      for (int64_t i = 0; i < count; ++i) {
        t->data.f[i] = (float)uniform(0.05, 2.0);
        values[p - 1][i] = t->data.f[i];
      }
    } else {
      t->quant_scale = 2.0f / 1073741824.0f; /* 2 / 2^30 */
      t->quant_zero_point = 3;
      int32_t* q = (int32_t*)t->data.data;
      for (int64_t i = 0; i < count; ++i) {
        q[i] = (int32_t)(uniform(0.05, 2.0) / t->quant_scale);
        values[p - 1][i] = (double)t->quant_scale * ((double)q[i] - 3);
      }
    }
  }
  const TfLiteRegistration* reg = KerasApalu_Register_APALU();
  const int in_idx[3] = {0, 1, 2}, out_idx[1] = {3};
  TfLiteNode node;
  memset(&node, 0, sizeof node);
  node.inputs = int_array(3, in_idx);
  node.outputs = int_array(1, out_idx);
  node.user_data = reg->init(&rt.context, NULL, 0);
  char detail[512];
  describe(detail, sizeof detail,
           param_type == kTfLiteFloat32 ? "int8 float-slopes"
                                        : "int8 int32-slopes",
           x_shape->rank, x_shape->dims, a_shape->rank, a_shape->dims,
           b_shape->rank, b_shape->dims, 1);
  COUNT(cases);
  COUNT(int8_cases);
  if (reg->prepare(&rt.context, &node) != kTfLiteOk ||
      reg->invoke(&rt.context, &node) != kTfLiteOk) {
    char msg[1200];
    snprintf(msg, sizeof msg, "%s: error '%s'", detail, rt.error);
    fail("int8", msg);
  } else {
    const int8_t* y = (const int8_t*)rt.tensors[3].data.data;
    int index[APALU_MAX_RANK] = {0};
    int64_t off_by_one = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double av = values[0][param_offset(
          x_shape->rank, index, a_shape->rank, a_shape->dims)];
      const double bv = values[1][param_offset(
          x_shape->rank, index, b_shape->rank, b_shape->dims)];
      const double xv = (double)in_scale * ((double)x[i] - in_zero);
      const double want =
          clamp_round(reference(xv, av, bv), out_scale, out_zero);
      const double diff = fabs((double)y[i] - want);
      off_by_one += diff == 1.0;
      if (diff > 1.0) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s: element %lld q=%d got %d want %g",
                 detail, (long long)i, x[i], y[i], want);
        fail("int8 value", msg);
        break;
      }
      for (int d = x_shape->rank - 1; d >= 0; --d) {
        if (++index[d] < x_shape->dims[d]) break;
        index[d] = 0;
      }
    }
    /* Off by one only on a rounding boundary: rare. */
    if (n > 0 && off_by_one * 100 > n) fail("int8 rounding", detail);
  }
  free(values[0]);
  free(values[1]);
  reg->free(&rt.context, node.user_data);
  free(node.inputs);
  free(node.outputs);
  runtime_free(&rt);
}

static void int8_cases_all(void) {
  typedef struct {
    Shape x, a, b;
  } Layout;
  static const Layout layouts[] = {
      {{2, {1, 256}}, {0, {0}}, {0, {0}}},               /* one table */
      {{1, {1000}}, {1, {1}}, {0, {0}}},                 /* vector tail */
      {{3, {1, 256, 7}}, {1, {7}}, {1, {7}}},            /* per channel */
      {{3, {2, 256, 37}}, {1, {37}}, {2, {1, 37}}},      /* gather + tail */
      {{3, {1, 100, 64}}, {1, {64}}, {1, {64}}},         /* 64x64 blocks */
      {{4, {3, 7, 5, 128}}, {1, {128}}, {1, {128}}},     /* blocks + rows */
      {{3, {1, 256, 7}}, {0, {0}}, {1, {7}}},
      {{3, {3, 256, 5}}, {3, {3, 1, 5}}, {1, {5}}},
      {{3, {1, 256, 4100}}, {1, {4100}}, {1, {4100}}},   /* table-free */
      {{3, {2, 40, 130}}, {2, {40, 130}}, {0, {0}}},     /* table-free */
      {{0, {0}}, {0, {0}}, {0, {0}}},                    /* scalar x */
      {{2, {0, 64}}, {1, {64}}, {1, {64}}},              /* empty x */
  };
  static const float scales[][4] = {
      {0.05f, -10, 0.08f, -60},
      {0.02f, 5, 0.3f, -100},
      {0.1f, 0, 0.01f, 3},
      {0.25f, 90, 0.04f, -128},
      {1e30f, 0, 1e-30f, 0}, /* extreme but valid: saturates */
  };
  for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; ++l) {
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; ++s) {
      for (int p = 0; p < 2; ++p) {
        run_int8(&layouts[l].x, &layouts[l].a, &layouts[l].b,
                 p ? kTfLiteInt32 : kTfLiteFloat32, scales[s][0],
                 (int)scales[s][1], scales[s][2], (int)scales[s][3]);
      }
    }
  }
}

/* ---- re-preparing a node for new shapes (and float <-> int8) ------------ */

static void reprepare_case(void) {
  Runtime rt;
  runtime_init(&rt, 2);
  const TfLiteRegistration* reg = KerasApalu_Register_APALU();
  const int in_idx[3] = {0, 1, 2}, out_idx[1] = {3};
  TfLiteNode node;
  memset(&node, 0, sizeof node);
  node.inputs = int_array(3, in_idx);
  node.outputs = int_array(1, out_idx);
  node.user_data = reg->init(&rt.context, NULL, 0);
  const int c[1] = {3};
  static const int shapes[][3] = {{1, 4, 3}, {7, 4, 3}, {2, 9, 3}, {3000, 30, 3}};
  for (int round = 0; round < 8; ++round) {
    const int int8 = round % 2;
    const int* shape = shapes[round % 4];
    set_tensor(&rt, 0, int8 ? kTfLiteInt8 : kTfLiteFloat32, 3, shape);
    set_tensor(&rt, 1, kTfLiteFloat32, 1, c);
    set_tensor(&rt, 2, kTfLiteFloat32, 1, c);
    set_tensor(&rt, 3, int8 ? kTfLiteInt8 : kTfLiteFloat32, 0, NULL);
    rt.tensors[0].quant_scale = rt.tensors[3].quant_scale = 0.05f;
    const int64_t n = count_of(rt.tensors[0].dims);
    for (int i = 0; i < 3; ++i) {
      rt.tensors[1].data.f[i] = 0.5f + i;
      rt.tensors[2].data.f[i] = 1.5f - 0.25f * i;
    }
    for (int64_t i = 0; i < n; ++i) {
      if (int8) {
        ((int8_t*)rt.tensors[0].data.data)[i] = (int8_t)((i * 37) % 256 - 128);
      } else {
        rt.tensors[0].data.f[i] = (float)uniform(-8, 8);
      }
    }
    COUNT(cases);
    if (reg->prepare(&rt.context, &node) != kTfLiteOk ||
        reg->invoke(&rt.context, &node) != kTfLiteOk) {
      fail("re-prepare", rt.error);
      continue;
    }
    for (int64_t i = 0; i < n; ++i) {
      const int ch = (int)(i % 3);
      const double a = rt.tensors[1].data.f[ch], b = rt.tensors[2].data.f[ch];
      if (int8) {
        const double xv = 0.05 * ((int8_t*)rt.tensors[0].data.data)[i];
        const double want = clamp_round(reference(xv, a, b), 0.05, 0);
        if (fabs(((int8_t*)rt.tensors[3].data.data)[i] - want) > 1) {
          fail("re-prepare int8 value", "");
          break;
        }
      } else {
        const double want = reference(rt.tensors[0].data.f[i], a, b);
        if (fabs(rt.tensors[3].data.f[i] - want) > 2e-6 * fabs(want) + 1e-6) {
          fail("re-prepare float value", "");
          break;
        }
      }
    }
  }
  reg->free(&rt.context, node.user_data);
  free(node.inputs);
  free(node.outputs);
  runtime_free(&rt);
}

/* ---- several threads invoking at once (the shared pool) ----------------- */

static void* concurrent_worker(void* arg) {
  int* bad = (int*)arg;
  const Shape x = {2, {3, 70001}};
  const Shape a = {1, {70001}};
  const Shape b = {0, {0}};
  for (int i = 0; i < 3; ++i) {
    /* run_float's counters are not atomic: count on the caller's side. */
    *bad += run_float(&x, &a, &b, 3, 0.05, "concurrent");
  }
  return NULL;
}

static void concurrent_cases(void) {
  pthread_t threads[4];
  int bad[4] = {0};
  const int before = cases;
  for (int t = 0; t < 4; ++t) {
    pthread_create(&threads[t], NULL, concurrent_worker, &bad[t]);
  }
  for (int t = 0; t < 4; ++t) pthread_join(threads[t], NULL);
  (void)before;
  for (int t = 0; t < 4; ++t) {
    if (bad[t]) fail("concurrent", "a thread's invokes were wrong");
  }
}

/* ---- malformed nodes ---------------------------------------------------- */

/* Sets up a float node x(2,3), a(3), b(3) -> y, lets `spoil` break it, and
 * requires Prepare (or Invoke) to refuse it with an "APALU:" error. */
typedef void (*Spoiler)(Runtime* rt, TfLiteNode* node);

static void expect_error(const char* name, Spoiler spoil) {
  Runtime rt;
  runtime_init(&rt, 2);
  const int xs[2] = {2, 3}, ps[1] = {3};
  set_tensor(&rt, 0, kTfLiteFloat32, 2, xs);
  set_tensor(&rt, 1, kTfLiteFloat32, 1, ps);
  set_tensor(&rt, 2, kTfLiteFloat32, 1, ps);
  set_tensor(&rt, 3, kTfLiteFloat32, 0, NULL);
  for (int i = 0; i < 6; ++i) rt.tensors[0].data.f[i] = (float)i - 2.5f;
  for (int i = 0; i < 3; ++i) {
    rt.tensors[1].data.f[i] = rt.tensors[2].data.f[i] = 1.0f;
  }
  rt.tensors[0].quant_scale = rt.tensors[3].quant_scale = 0.1f;
  const TfLiteRegistration* reg = KerasApalu_Register_APALU();
  const int in_idx[3] = {0, 1, 2}, out_idx[1] = {3};
  TfLiteNode node;
  memset(&node, 0, sizeof node);
  node.inputs = int_array(3, in_idx);
  node.outputs = int_array(1, out_idx);
  node.user_data = reg->init(&rt.context, NULL, 0);
  spoil(&rt, &node);
  COUNT(cases);
  COUNT(error_cases);
  TfLiteStatus status = reg->prepare(&rt.context, &node);
  if (status == kTfLiteOk) status = reg->invoke(&rt.context, &node);
  if (status == kTfLiteOk) {
    fail("malformed node accepted", name);
  } else if (rt.reported == 0 || strncmp(rt.error, "APALU:", 6) != 0) {
    fail("malformed node without an APALU error", name);
  }
  reg->free(&rt.context, node.user_data);
  free(node.inputs);
  free(node.outputs);
  runtime_free(&rt);
}

static void set_list(TfLiteIntArray** list, int size, const int* values) {
  free(*list);
  *list = int_array(size, values);
}

static void two_inputs(Runtime* rt, TfLiteNode* n) {
  (void)rt;
  const int v[2] = {0, 1};
  set_list(&n->inputs, 2, v);
}
static void four_inputs(Runtime* rt, TfLiteNode* n) {
  (void)rt;
  const int v[4] = {0, 1, 2, 2};
  set_list(&n->inputs, 4, v);
}
static void no_inputs(Runtime* rt, TfLiteNode* n) {
  (void)rt;
  set_list(&n->inputs, 0, NULL);
}
static void two_outputs(Runtime* rt, TfLiteNode* n) {
  (void)rt;
  const int v[2] = {3, 4};
  set_list(&n->outputs, 2, v);
}
static void no_outputs(Runtime* rt, TfLiteNode* n) {
  (void)rt;
  set_list(&n->outputs, 0, NULL);
}
static void optional_input(Runtime* rt, TfLiteNode* n) {
  (void)rt;
  n->inputs->data[1] = -1; /* kTfLiteOptionalTensor */
}
static void input_out_of_range(Runtime* rt, TfLiteNode* n) {
  (void)rt;
  n->inputs->data[2] = 99;
}
static void output_out_of_range(Runtime* rt, TfLiteNode* n) {
  (void)rt;
  n->outputs->data[0] = -7;
}
static void x_int32(Runtime* rt, TfLiteNode* n) {
  (void)n;
  rt->tensors[0].type = kTfLiteInt32;
}
static void a_int8(Runtime* rt, TfLiteNode* n) {
  (void)n;
  rt->tensors[1].type = kTfLiteInt8;
}
static void out_int8(Runtime* rt, TfLiteNode* n) {
  (void)n;
  rt->tensors[3].type = kTfLiteInt8;
}
static void out_float_for_int8(Runtime* rt, TfLiteNode* n) {
  (void)n;
  rt->tensors[0].type = kTfLiteInt8;
}
static void no_type(Runtime* rt, TfLiteNode* n) {
  (void)n;
  rt->tensors[2].type = kTfLiteNoType;
}
static void a_not_broadcast(Runtime* rt, TfLiteNode* n) {
  (void)n;
  const int v[1] = {4};
  set_tensor(rt, 1, kTfLiteFloat32, 1, v);
}
static void a_rank_too_big(Runtime* rt, TfLiteNode* n) {
  (void)n;
  const int v[3] = {1, 2, 3};
  set_tensor(rt, 1, kTfLiteFloat32, 3, v);
}
static void b_zero_size(Runtime* rt, TfLiteNode* n) {
  (void)n;
  const int v[1] = {0};
  set_tensor(rt, 2, kTfLiteFloat32, 1, v);
}
static void x_rank_nine(Runtime* rt, TfLiteNode* n) {
  (void)n;
  const int v[9] = {1, 1, 1, 1, 1, 1, 1, 2, 3};
  set_tensor(rt, 0, kTfLiteFloat32, 9, v);
}
static void x_negative_dim(Runtime* rt, TfLiteNode* n) {
  (void)n;
  rt->tensors[0].dims->data[0] = -2;
}
static void x_and_a_negative(Runtime* rt, TfLiteNode* n) {
  (void)n;
  rt->tensors[0].dims->data[1] = -3;
  rt->tensors[1].dims->data[0] = -3;
}
static void x_huge(Runtime* rt, TfLiteNode* n) {
  /* Dimensions whose product overflows 64 bits (no buffer behind them). */
  (void)n;
  TfLiteIntArray* dims = rt->tensors[0].dims;
  free(dims);
  const int v[4] = {2147483647, 2147483647, 2147483647, 3};
  rt->tensors[0].dims = int_array(4, v);
}
static void x_huge_matching_a(Runtime* rt, TfLiteNode* n) {
  (void)n;
  const int v[3] = {65536, 65536, 65536};
  free(rt->tensors[0].dims);
  rt->tensors[0].dims = int_array(3, v);
  free(rt->tensors[1].dims);
  rt->tensors[1].dims = int_array(3, v);
}
static void x_bytes_short(Runtime* rt, TfLiteNode* n) {
  /* The shape says 6 elements, the buffer holds 5. */
  (void)n;
  rt->tensors[0].bytes = 20;
}
static void a_no_data(Runtime* rt, TfLiteNode* n) {
  (void)n;
  free(rt->tensors[1].data.data);
  rt->tensors[1].data.data = NULL;
}
static void a_bytes_short(Runtime* rt, TfLiteNode* n) {
  (void)n;
  rt->tensors[1].bytes = 8;
}
static void int8_zero_scale(Runtime* rt, TfLiteNode* n) {
  (void)n;
  const int v[2] = {2, 3};
  set_tensor(rt, 0, kTfLiteInt8, 2, v);
  rt->tensors[3].type = kTfLiteInt8;
  rt->tensors[0].quant_scale = 0.0f;
}
static void int8_nan_out_scale(Runtime* rt, TfLiteNode* n) {
  (void)n;
  const int v[2] = {2, 3};
  set_tensor(rt, 0, kTfLiteInt8, 2, v);
  rt->tensors[0].quant_scale = 0.1f;
  rt->tensors[3].type = kTfLiteInt8;
  rt->tensors[3].quant_scale = NAN;
}
static void int8_a_not_constant(Runtime* rt, TfLiteNode* n) {
  (void)n;
  const int v[2] = {2, 3};
  set_tensor(rt, 0, kTfLiteInt8, 2, v);
  rt->tensors[0].quant_scale = 0.1f;
  rt->tensors[3].type = kTfLiteInt8;
  free(rt->tensors[1].data.data);
  rt->tensors[1].data.data = NULL;
}
static void int8_int32_unquantised(Runtime* rt, TfLiteNode* n) {
  (void)n;
  const int v[2] = {2, 3}, p[1] = {3};
  set_tensor(rt, 0, kTfLiteInt8, 2, v);
  rt->tensors[0].quant_scale = 0.1f;
  rt->tensors[3].type = kTfLiteInt8;
  set_tensor(rt, 2, kTfLiteInt32, 1, p);
}
static void int8_a_bytes_short(Runtime* rt, TfLiteNode* n) {
  (void)n;
  const int v[2] = {2, 3};
  set_tensor(rt, 0, kTfLiteInt8, 2, v);
  rt->tensors[0].quant_scale = 0.1f;
  rt->tensors[3].type = kTfLiteInt8;
  rt->tensors[1].bytes = 4;
}
static void int8_setup(Runtime* rt) {
  const int v[2] = {2, 3};
  set_tensor(rt, 0, kTfLiteInt8, 2, v);
  for (int i = 0; i < 6; ++i) ((int8_t*)rt->tensors[0].data.data)[i] = 40 * i - 100;
  rt->tensors[0].quant_scale = 0.1f;
  rt->tensors[3].type = kTfLiteInt8;
}
static void int8_inf_scale(Runtime* rt, TfLiteNode* n) {
  (void)n;
  int8_setup(rt);
  rt->tensors[0].quant_scale = INFINITY;
}
static void int8_denormal_out_scale(Runtime* rt, TfLiteNode* n) {
  (void)n;
  int8_setup(rt);
  rt->tensors[3].quant_scale = 1e-44f;
}
static void int8_nan_slope(Runtime* rt, TfLiteNode* n) {
  (void)n;
  int8_setup(rt);
  rt->tensors[1].data.f[1] = NAN;
}
static void int8_inf_slope(Runtime* rt, TfLiteNode* n) {
  (void)n;
  int8_setup(rt);
  rt->tensors[2].data.f[2] = -INFINITY;
}
static void int8_overflowing_slope(Runtime* rt, TfLiteNode* n) {
  /* Finite, but a / (output scale) is beyond float32. */
  (void)n;
  int8_setup(rt);
  rt->tensors[1].data.f[0] = 3e38f;
  rt->tensors[3].quant_scale = 0.01f;
}
static void int8_int32_inf_scale(Runtime* rt, TfLiteNode* n) {
  (void)n;
  const int p[1] = {3};
  int8_setup(rt);
  set_tensor(rt, 2, kTfLiteInt32, 1, p);
  for (int i = 0; i < 3; ++i) ((int32_t*)rt->tensors[2].data.data)[i] = 0;
  rt->tensors[2].quant_scale = INFINITY;
}
static void no_plan(Runtime* rt, TfLiteNode* n) {
  (void)rt;
  free(n->user_data); /* as if init's allocation had failed */
  n->user_data = NULL;
}

static void error_cases_all(void) {
  static const struct {
    const char* name;
    Spoiler spoil;
  } spoilers[] = {
      {"2 inputs", two_inputs},
      {"4 inputs", four_inputs},
      {"no inputs", no_inputs},
      {"2 outputs", two_outputs},
      {"no outputs", no_outputs},
      {"optional input", optional_input},
      {"input index out of range", input_out_of_range},
      {"output index out of range", output_out_of_range},
      {"x int32", x_int32},
      {"a int8", a_int8},
      {"output int8 for float x", out_int8},
      {"float output for int8 x", out_float_for_int8},
      {"no type", no_type},
      {"a does not broadcast", a_not_broadcast},
      {"a rank above x's", a_rank_too_big},
      {"b zero-size", b_zero_size},
      {"x rank 9", x_rank_nine},
      {"x negative dimension", x_negative_dim},
      {"x and a negative dimension", x_and_a_negative},
      {"x huge (overflow)", x_huge},
      {"x and a huge", x_huge_matching_a},
      {"x bytes short", x_bytes_short},
      {"a no data", a_no_data},
      {"a bytes short", a_bytes_short},
      {"int8 zero input scale", int8_zero_scale},
      {"int8 NaN output scale", int8_nan_out_scale},
      {"int8 a not constant", int8_a_not_constant},
      {"int8 int32 b unquantised", int8_int32_unquantised},
      {"int8 a bytes short", int8_a_bytes_short},
      {"int8 infinite input scale", int8_inf_scale},
      {"int8 denormal output scale", int8_denormal_out_scale},
      {"int8 NaN slope", int8_nan_slope},
      {"int8 infinite slope", int8_inf_slope},
      {"int8 slope / output scale beyond float32", int8_overflowing_slope},
      {"int8 int32 slope with an infinite scale", int8_int32_inf_scale},
      {"no plan", no_plan},
  };
  for (size_t i = 0; i < sizeof spoilers / sizeof spoilers[0]; ++i) {
    expect_error(spoilers[i].name, spoilers[i].spoil);
  }
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0); /* keep the output of a crashed run */
  const int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  float_cases_all(quick);
  int8_cases_all();
  reprepare_case();
  concurrent_cases();
  error_cases_all();
  printf("apalu_harness: %d cases (%d float, %d int8, %d malformed nodes, "
         "plus re-prepare and 4 concurrent threads), %d failures; "
         "pointer size %d\n",
         cases, float_cases, int8_cases, error_cases, failures,
         (int)sizeof(void*));
  return failures ? 1 : 0;
}
