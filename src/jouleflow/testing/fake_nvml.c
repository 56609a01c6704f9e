/*
 * A simulated libnvidia-ml.so.1 for jouleflow's tests and yours.
 *
 * Build:  gcc -shared -fPIC -O2 -o libnvidia-ml.so.1 fake_nvml.c
 * (jouleflow.testing.nvml.compile_fake_nvml does this and caches the result.)
 *
 * It exports the NVML entry points that the real nvidia-ml-py bindings call for energy and
 * power, with NVML's ABI (return codes, struct layouts), so the Python code under test runs
 * exactly as it would against a driver. The GPUs and their power are described by a text file
 * named by the environment variable JOULEFLOW_FAKE_NVML_STATE, read again whenever it changes
 * (identity: path, device, inode, size, mtime to the nanosecond; the Python writer replaces the
 * file atomically and gives every version a distinct mtime). Format, one record per line:
 *
 *   jouleflow-fake-nvml 1
 *   driver <version>
 *   init_error <nvmlReturn_t returned by nvmlInit, 0 for success>
 *   gpu <energy 0|1> <instant 0|1> <limit_mw> <initial_mj> <lost 0|1> <uuid> <name to end of line>
 *   seg <gpu index> <t_start CLOCK_MONOTONIC ns> <watts>
 *
 * Power is piecewise constant: a segment holds from its start until the next one, and the first
 * segment is taken to have held since forever (the GPU was running before the test looked).
 *   - nvmlDeviceGetTotalEnergyConsumption: initial_mj + the exact integral of power from the
 *     first segment's start to now, floored to mJ, never less than a value already returned;
 *     NVML_ERROR_NOT_SUPPORTED where energy=0.
 *   - nvmlDeviceGetPowerUsage: the exact 1 s trailing average, in mW (as Ampere+ boards report).
 *   - nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT, scope 0): the power now, in mW, where
 *     instant=1; otherwise that field's nvmlReturn is NVML_ERROR_NOT_SUPPORTED.
 * A missing state file (or variable) makes nvmlInit fail with NVML_ERROR_DRIVER_NOT_LOADED.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

typedef int nvmlReturn_t;
enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_ALREADY_INITIALIZED = 5,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_LIBRARY_NOT_FOUND = 12,
    NVML_ERROR_FUNCTION_NOT_FOUND = 13,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_UNKNOWN = 999,
};

enum { NVML_VALUE_TYPE_UNSIGNED_INT = 1 };
enum { NVML_FI_DEV_POWER_INSTANT = 186 };

#define MAX_GPUS 64
#define NAME_SIZE 96
#define UUID_SIZE 96
#define DRIVER_SIZE 80
#define TRAILING_WINDOW_NS 1000000000LL

struct nvmlDevice_st {
    unsigned int index;
};
typedef struct nvmlDevice_st *nvmlDevice_t;

typedef union {
    double dVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    long long sllVal;
    int siVal;
    unsigned short usVal;
} nvmlValue_t;

typedef struct {
    unsigned int fieldId;
    unsigned int scopeId;
    long long timestamp;
    long long latencyUsec;
    unsigned int valueType;
    nvmlReturn_t nvmlReturn;
    nvmlValue_t value;
} nvmlFieldValue_t;

typedef struct {
    int64_t t_ns;
    double watts;
} segment_t;

typedef struct {
    char name[NAME_SIZE];
    char uuid[UUID_SIZE];
    int has_energy;
    int has_instant;
    int lost;
    unsigned int limit_mw;
    unsigned long long initial_mj;
    unsigned long long reported_mj; /* the highest counter value handed out */
    segment_t *segs;
    size_t nsegs;
    size_t cap;
} gpu_t;

typedef struct {
    gpu_t gpus[MAX_GPUS];
    unsigned int count;
    int init_error;
    char driver[DRIVER_SIZE];
} state_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static state_t state;
static int state_loaded;
static char state_path[4096];
static struct stat state_stat;
static int init_count;
static struct nvmlDevice_st devices[MAX_GPUS];

static void free_state(state_t *s) {
    for (unsigned int i = 0; i < MAX_GPUS; i++) {
        free(s->gpus[i].segs);
        s->gpus[i].segs = NULL;
        s->gpus[i].nsegs = s->gpus[i].cap = 0;
    }
    s->count = 0;
}

static int add_segment(gpu_t *g, int64_t t_ns, double watts) {
    if (g->nsegs == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 8;
        segment_t *grown = realloc(g->segs, cap * sizeof *grown);
        if (!grown)
            return -1;
        g->segs = grown;
        g->cap = cap;
    }
    g->segs[g->nsegs].t_ns = t_ns;
    g->segs[g->nsegs].watts = watts;
    g->nsegs++;
    return 0;
}

static void copy_text(char *dest, size_t size, const char *src) {
    size_t n = strcspn(src, "\r\n");
    if (n >= size)
        n = size - 1;
    memcpy(dest, src, n);
    dest[n] = '\0';
}

/* Parses the state file into *s; 0 on success. */
static int parse_state(FILE *f, state_t *s) {
    char line[1024];
    int line_no = 0;
    memset(s, 0, sizeof *s);
    while (fgets(line, sizeof line, f)) {
        line_no++;
        if (line[0] == '\n' || line[0] == '#')
            continue;
        if (strncmp(line, "jouleflow-fake-nvml ", 20) == 0)
            continue;
        if (strncmp(line, "driver ", 7) == 0) {
            copy_text(s->driver, sizeof s->driver, line + 7);
        } else if (sscanf(line, "init_error %d", &s->init_error) == 1) {
            /* parsed */
        } else if (strncmp(line, "gpu ", 4) == 0) {
            gpu_t *g;
            int consumed = 0;
            char uuid[UUID_SIZE];
            if (s->count >= MAX_GPUS)
                goto bad;
            g = &s->gpus[s->count];
            if (sscanf(line + 4, "%d %d %u %llu %d %95s %n", &g->has_energy, &g->has_instant,
                       &g->limit_mw, &g->initial_mj, &g->lost, uuid, &consumed) < 6 ||
                consumed == 0)
                goto bad;
            copy_text(g->uuid, sizeof g->uuid, uuid);
            copy_text(g->name, sizeof g->name, line + 4 + consumed);
            s->count++;
        } else if (strncmp(line, "seg ", 4) == 0) {
            unsigned int index;
            long long t_ns;
            double watts;
            if (sscanf(line + 4, "%u %lld %lf", &index, &t_ns, &watts) != 3 || index >= s->count)
                goto bad;
            if (add_segment(&s->gpus[index], (int64_t)t_ns, watts) != 0)
                goto bad;
        } else {
            goto bad;
        }
    }
    return 0;
bad:
    fprintf(stderr, "fake libnvidia-ml: cannot parse line %d of the state file: %s", line_no, line);
    free_state(s);
    return -1;
}

/*
 * A hardware counter never goes back. A new version of the state can only rewrite the past if
 * the writer was slower than its lead time; then the counter holds still until the truth
 * catches up, rather than decreasing. Kept while the same GPU runs the same simulation.
 */
static void carry_reported(state_t *fresh) {
    if (!state_loaded)
        return;
    for (unsigned int i = 0; i < fresh->count && i < state.count; i++) {
        gpu_t *now = &fresh->gpus[i];
        const gpu_t *before = &state.gpus[i];
        if (now->nsegs && before->nsegs && now->segs[0].t_ns == before->segs[0].t_ns &&
            strcmp(now->uuid, before->uuid) == 0)
            now->reported_mj = before->reported_mj;
    }
}

/* Brings `state` up to date with the file; called with `lock` held. */
static nvmlReturn_t reload_locked(void) {
    const char *path = getenv("JOULEFLOW_FAKE_NVML_STATE");
    struct stat st;
    FILE *f;
    state_t fresh;
    if (!path || !*path || stat(path, &st) != 0) {
        free_state(&state);
        state_loaded = 0;
        return NVML_ERROR_DRIVER_NOT_LOADED;
    }
    if (state_loaded && strcmp(path, state_path) == 0 && st.st_dev == state_stat.st_dev &&
        st.st_ino == state_stat.st_ino && st.st_size == state_stat.st_size &&
        st.st_mtim.tv_sec == state_stat.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == state_stat.st_mtim.tv_nsec)
        return NVML_SUCCESS;
    f = fopen(path, "r");
    if (!f) {
        free_state(&state);
        state_loaded = 0;
        return NVML_ERROR_DRIVER_NOT_LOADED;
    }
    if (fstat(fileno(f), &st) != 0 || parse_state(f, &fresh) != 0) {
        fclose(f);
        return NVML_ERROR_UNKNOWN;
    }
    fclose(f);
    carry_reported(&fresh);
    free_state(&state);
    state = fresh;
    state_loaded = 1;
    state_stat = st;
    copy_text(state_path, sizeof state_path, path);
    return NVML_SUCCESS;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long realtime_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Exact energy in joules between a and b; the first segment extends back to the beginning. */
static double integral_j(const gpu_t *g, int64_t a, int64_t b) {
    double total = 0.0;
    if (b <= a)
        return 0.0;
    for (size_t i = 0; i < g->nsegs; i++) {
        int64_t start = i == 0 ? INT64_MIN : g->segs[i].t_ns;
        int64_t end = i + 1 < g->nsegs ? g->segs[i + 1].t_ns : INT64_MAX;
        int64_t lo = start > a ? start : a;
        int64_t hi = end < b ? end : b;
        if (hi > lo)
            total += g->segs[i].watts * (double)(hi - lo) / 1e9;
    }
    return total;
}

static double power_now_w(const gpu_t *g, int64_t t) {
    double watts = 0.0;
    for (size_t i = 0; i < g->nsegs; i++) {
        if (i == 0 || g->segs[i].t_ns <= t)
            watts = g->segs[i].watts;
    }
    return watts;
}

static unsigned int to_mw(double watts) {
    return watts <= 0 ? 0u : (unsigned int)(watts * 1000.0 + 0.5);
}

/* Locks, refreshes the state and checks that `device` may be used; the caller unlocks. */
static nvmlReturn_t enter_device(nvmlDevice_t device, gpu_t **g) {
    nvmlReturn_t ret;
    pthread_mutex_lock(&lock);
    if (init_count == 0)
        return NVML_ERROR_UNINITIALIZED;
    ret = reload_locked();
    if (ret != NVML_SUCCESS)
        return ret;
    if (device < devices || device >= devices + MAX_GPUS || device->index >= state.count)
        return NVML_ERROR_INVALID_ARGUMENT;
    *g = &state.gpus[device->index];
    if ((*g)->lost)
        return NVML_ERROR_GPU_IS_LOST;
    return NVML_SUCCESS;
}

static nvmlReturn_t enter_system(void) {
    pthread_mutex_lock(&lock);
    if (init_count == 0)
        return NVML_ERROR_UNINITIALIZED;
    return reload_locked();
}

static nvmlReturn_t leave(nvmlReturn_t ret) {
    pthread_mutex_unlock(&lock);
    return ret;
}

static nvmlReturn_t copy_string(char *dest, unsigned int length, const char *src) {
    size_t n = strlen(src);
    if (!dest)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (length < n + 1)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dest, src, n + 1);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    nvmlReturn_t ret;
    (void)flags;
    pthread_mutex_lock(&lock);
    for (unsigned int i = 0; i < MAX_GPUS; i++)
        devices[i].index = i;
    ret = reload_locked();
    if (ret == NVML_SUCCESS && state.init_error != 0)
        ret = state.init_error;
    if (ret == NVML_SUCCESS)
        init_count++;
    return leave(ret);
}

EXPORT nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }

EXPORT nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }

EXPORT nvmlReturn_t nvmlShutdown(void) {
    nvmlReturn_t ret = NVML_SUCCESS;
    pthread_mutex_lock(&lock);
    if (init_count == 0)
        ret = NVML_ERROR_UNINITIALIZED;
    else
        init_count--;
    return leave(ret);
}

EXPORT const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
    }
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    nvmlReturn_t ret = enter_system();
    if (ret == NVML_SUCCESS)
        ret = copy_string(version, length, state.driver);
    return leave(ret);
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    nvmlReturn_t ret = enter_system();
    if (ret == NVML_SUCCESS) {
        if (count)
            *count = state.count;
        else
            ret = NVML_ERROR_INVALID_ARGUMENT;
    }
    return leave(ret);
}

EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { return nvmlDeviceGetCount_v2(count); }

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    nvmlReturn_t ret = enter_system();
    if (ret == NVML_SUCCESS) {
        if (!device || index >= state.count)
            ret = NVML_ERROR_INVALID_ARGUMENT;
        else if (state.gpus[index].lost)
            ret = NVML_ERROR_GPU_IS_LOST;
        else
            *device = &devices[index];
    }
    return leave(ret);
}

EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index) {
    gpu_t *g;
    nvmlReturn_t ret = enter_device(device, &g);
    if (ret == NVML_SUCCESS) {
        if (index)
            *index = device->index;
        else
            ret = NVML_ERROR_INVALID_ARGUMENT;
    }
    return leave(ret);
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    gpu_t *g;
    nvmlReturn_t ret = enter_device(device, &g);
    if (ret == NVML_SUCCESS)
        ret = copy_string(name, length, g->name);
    return leave(ret);
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    gpu_t *g;
    nvmlReturn_t ret = enter_device(device, &g);
    if (ret == NVML_SUCCESS)
        ret = copy_string(uuid, length, g->uuid);
    return leave(ret);
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
                                                        unsigned long long *energy) {
    gpu_t *g;
    nvmlReturn_t ret = enter_device(device, &g);
    if (ret == NVML_SUCCESS) {
        if (!g->has_energy) {
            ret = NVML_ERROR_NOT_SUPPORTED;
        } else if (!energy) {
            ret = NVML_ERROR_INVALID_ARGUMENT;
        } else {
            int64_t start = g->nsegs ? g->segs[0].t_ns : 0;
            double mj = integral_j(g, start, now_ns()) * 1000.0;
            unsigned long long value = g->initial_mj + (unsigned long long)(mj > 0 ? mj : 0);
            if (value < g->reported_mj)
                value = g->reported_mj;
            g->reported_mj = value;
            *energy = value;
        }
    }
    return leave(ret);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
    gpu_t *g;
    nvmlReturn_t ret = enter_device(device, &g);
    if (ret == NVML_SUCCESS) {
        if (!power) {
            ret = NVML_ERROR_INVALID_ARGUMENT;
        } else {
            int64_t t = now_ns();
            double joules = integral_j(g, t - TRAILING_WINDOW_NS, t);
            *power = to_mw(joules * 1e9 / (double)TRAILING_WINDOW_NS);
        }
    }
    return leave(ret);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limit) {
    gpu_t *g;
    nvmlReturn_t ret = enter_device(device, &g);
    if (ret == NVML_SUCCESS) {
        if (g->limit_mw == 0)
            ret = NVML_ERROR_NOT_SUPPORTED;
        else if (!limit)
            ret = NVML_ERROR_INVALID_ARGUMENT;
        else
            *limit = g->limit_mw;
    }
    return leave(ret);
}

EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount,
                                             nvmlFieldValue_t *values) {
    gpu_t *g;
    nvmlReturn_t ret = enter_device(device, &g);
    if (ret == NVML_SUCCESS && (valuesCount < 0 || (valuesCount > 0 && !values)))
        ret = NVML_ERROR_INVALID_ARGUMENT;
    if (ret == NVML_SUCCESS) {
        int64_t t = now_ns();
        for (int i = 0; i < valuesCount; i++) {
            nvmlFieldValue_t *v = &values[i];
            v->timestamp = realtime_us();
            v->latencyUsec = 0;
            memset(&v->value, 0, sizeof v->value);
            if (v->fieldId == NVML_FI_DEV_POWER_INSTANT && v->scopeId == 0 && g->has_instant) {
                v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
                v->value.uiVal = to_mw(power_now_w(g, t));
                v->nvmlReturn = NVML_SUCCESS;
            } else {
                v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
            }
        }
    }
    return leave(ret);
}
