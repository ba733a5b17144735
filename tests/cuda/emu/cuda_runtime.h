/* cuda_runtime.h for the host emulation: the kernel files' headers
 * (cuda_device.cuh) include it; tests/cuda/emu/run puts this directory
 * first on the include path. */
#include "emu.h"
