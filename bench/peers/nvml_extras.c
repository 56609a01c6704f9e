/*
 * What CodeCarbon and Zeus ask NVML beyond energy and power, for the benchmark's simulated GPUs.
 *
 * Linked into one libnvidia-ml.so.1 with jouleflow's simulated library (jouleflow/testing/
 * fake_nvml.c), which answers every energy and power call (the ground truth). The peers also ask
 * for the architecture (Zeus reads the energy counter only from Volta on), memory, temperature,
 * utilisation, limits and processes when they set a GPU up; without answers they fail before
 * measuring anything. These answers are plausible constants: nothing here touches energy or power.
 * Names that begin "Tesla K" or "Tesla P" are Kepler and Pascal boards; anything else is Hopper.
 */
#include <string.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
enum { NVML_SUCCESS = 0, NVML_ERROR_INVALID_ARGUMENT = 2, NVML_ERROR_NOT_SUPPORTED = 3 };
enum { ARCH_KEPLER = 2, ARCH_PASCAL = 4, ARCH_HOPPER = 9 };

#define EXPORT __attribute__((visibility("default")))

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length);
nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limit);

typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;

typedef struct {
    unsigned int gpu, memory;
} nvmlUtilization_t;

typedef struct {
    unsigned int version;
    int sensorType;
    int temperature;
} nvmlTemperature_v1_t;

EXPORT nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, unsigned int *arch) {
    char name[96];
    nvmlReturn_t ret;
    if (!arch)
        return NVML_ERROR_INVALID_ARGUMENT;
    ret = nvmlDeviceGetName(device, name, sizeof name);
    if (ret != NVML_SUCCESS)
        return ret;
    if (strncmp(name, "Tesla K", 7) == 0)
        *arch = ARCH_KEPLER;
    else if (strncmp(name, "Tesla P", 7) == 0)
        *arch = ARCH_PASCAL;
    else
        *arch = ARCH_HOPPER;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetC2cModeInfoV(nvmlDevice_t device, void *info) {
    (void)device;
    (void)info;
    return NVML_ERROR_NOT_SUPPORTED; /* not a Grace Hopper superchip */
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    (void)device;
    if (!memory)
        return NVML_ERROR_INVALID_ARGUMENT;
    memory->total = 80ULL << 30;
    memory->used = 1ULL << 30;
    memory->free = memory->total - memory->used;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temp) {
    (void)device;
    (void)sensor;
    if (!temp)
        return NVML_ERROR_INVALID_ARGUMENT;
    *temp = 45;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_v1_t *temp) {
    (void)device;
    if (!temp)
        return NVML_ERROR_INVALID_ARGUMENT;
    temp->temperature = 45;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *util) {
    (void)device;
    if (!util)
        return NVML_ERROR_INVALID_ARGUMENT;
    util->gpu = 100;
    util->memory = 50;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit) {
    return nvmlDeviceGetPowerManagementLimit(device, limit);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t device, unsigned int *limit) {
    return nvmlDeviceGetPowerManagementLimit(device, limit);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device, unsigned int *lo,
                                                                 unsigned int *hi) {
    nvmlReturn_t ret = nvmlDeviceGetPowerManagementLimit(device, hi);
    if (ret == NVML_SUCCESS && lo)
        *lo = *hi / 4;
    return ret;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t device, int *mode) {
    (void)device;
    if (!mode)
        return NVML_ERROR_INVALID_ARGUMENT;
    *mode = 0; /* NVML_COMPUTEMODE_DEFAULT */
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, int *mode) {
    (void)device;
    if (!mode)
        return NVML_ERROR_INVALID_ARGUMENT;
    *mode = 1; /* NVML_FEATURE_ENABLED */
    return NVML_SUCCESS;
}

static nvmlReturn_t no_processes(unsigned int *count) {
    if (!count)
        return NVML_ERROR_INVALID_ARGUMENT;
    *count = 0;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *count, void *infos) {
    (void)d;
    (void)infos;
    return no_processes(count);
}

EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t d, unsigned int *count, void *infos) {
    (void)d;
    (void)infos;
    return no_processes(count);
}
