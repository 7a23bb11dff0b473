/* The Lambda bootstraps must load on provided.al2023, which has glibc 2.34. A newer build host's
 * libm versions hypot and hypotf as GLIBC_2.35, which the binaries would then require. These
 * definitions bind both to their baseline versions (GLIBC_2.2.5, the same functions' previous
 * implementation), so the executables import no symbol newer than 2.34. Linked into the
 * function binaries only (feature `lambda`); checked by tests/lambda_bootstrap.rs. */
__asm__(".symver mlinfra_hypot_baseline, hypot@GLIBC_2.2.5");
__asm__(".symver mlinfra_hypotf_baseline, hypotf@GLIBC_2.2.5");
double mlinfra_hypot_baseline(double, double);
float mlinfra_hypotf_baseline(float, float);
double hypot(double x, double y) { return mlinfra_hypot_baseline(x, y); }
float hypotf(float x, float y) { return mlinfra_hypotf_baseline(x, y); }
