// The one place that fixes the OpenCL API version: every module that includes <CL/cl.h> goes through here.
#ifndef TANDEM_COPENCL_SHIM_H
#define TANDEM_COPENCL_SHIM_H
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#endif
