//! The process's memory allocator: mimalloc instead of glibc's malloc.
//!
//! The API server allocates and frees many small JSON values per request;
//! under load glibc's allocator was about a quarter of its CPU, and with
//! mimalloc the same runs serve 1.3–2.5× the writes per second
//! (bench/README.md has the side-by-side figures).
//!
//! `.cargo/config.toml` builds mimalloc with arenas committed on demand
//! (`MI_DEFAULT_ARENA_EAGER_COMMIT=0`): with its Linux default the idle
//! server's RSS nearly doubled.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
