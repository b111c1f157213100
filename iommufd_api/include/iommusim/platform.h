/* SPDX-License-Identifier: MIT */
/*
 * iommusim — loading a simulated platform (libiommusim.so).
 *
 * A platform is a YAML or JSON file (docs/platform_config.md): IOMMUs, DMA
 * devices, memory, timing. Loading it builds the SystemC platform, starts the
 * simulation and probes the IOMMU drivers; its devices then sit behind the
 * simulated IOMMUs, and those with `vfio: true` appear as
 * /dev/vfio/devices/vfioN. One platform per process.
 *
 * Without a call to iommusim_platform_load(), the library loads the platform
 * named by the environment variable IOMMUSIM_PLATFORM on first use (what
 * `iommusim exec --config FILE` sets for the program it runs).
 *
 * At process exit the simulation stops and the outputs the platform's
 * `output` section asks for (statistics, waveforms, transaction log) are
 * written.
 */
#ifndef IOMMUSIM_PLATFORM_H
#define IOMMUSIM_PLATFORM_H

#ifdef __cplusplus
extern "C" {
#endif

#ifndef IOMMUSIM_API
#define IOMMUSIM_API __attribute__((visibility("default")))
#endif

/*
 * Load the platform of config_path (.yaml, .yml or .json). 0, or -1 with
 * errno: EINVAL (the file has errors: iommusim_platform_error() lists each
 * as "FILE:LINE:COL: reason"), ENOENT/EACCES (cannot open it), EEXIST (a
 * platform is already loaded), EIO (building it or probing a driver failed).
 */
IOMMUSIM_API int iommusim_platform_load(const char *config_path);

/*
 * The same for YAML or JSON text in memory; format is "yaml" or "json"
 * (NULL: "yaml"). Errors name the source "<string>".
 */
IOMMUSIM_API int iommusim_platform_load_string(const char *text, const char *format);

/*
 * Check config_path as iommusim_platform_load() would, without building
 * anything. 0, or -1 with errno (EINVAL, ENOENT, ...) and the errors in
 * iommusim_platform_error().
 */
IOMMUSIM_API int iommusim_platform_validate(const char *config_path);

/*
 * The errors of the last failed call of this thread, one a line; "" if
 * there were none. Valid until the thread's next iommusim_platform_* call.
 */
IOMMUSIM_API const char *iommusim_platform_error(void);

/*
 * Write every statistic of the loaded platform as JSON to json_path, now.
 * 0, or -1 with errno (ENODEV: no platform loaded; or the write's errno).
 */
IOMMUSIM_API int iommusim_platform_write_stats(const char *json_path);

/*
 * Load the platform named by IOMMUSIM_PLATFORM unless one is loaded (or the
 * variable is unset or empty): what the library does on first use.
 * Idempotent and thread-safe. 0 (nothing to do, or loaded), or -1 with errno
 * after printing the errors to stderr.
 */
IOMMUSIM_API int iommusim_platform_autoload(void);

/*
 * Stop the simulation and write the configured outputs now rather than at
 * exit. The platform cannot run again in this process.
 */
IOMMUSIM_API void iommusim_platform_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif /* IOMMUSIM_PLATFORM_H */
