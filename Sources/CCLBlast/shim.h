// CLBlast's C API, on the same OpenCL version as COpenCL.
#ifndef TANDEM_CCLBLAST_SHIM_H
#define TANDEM_CCLBLAST_SHIM_H
#include "../COpenCL/shim.h"
#include <clblast_c.h>
#endif
