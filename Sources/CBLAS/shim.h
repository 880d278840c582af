// OpenBLAS through its CBLAS interface.
#ifndef TANDEM_CBLAS_SHIM_H
#define TANDEM_CBLAS_SHIM_H
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
#endif
