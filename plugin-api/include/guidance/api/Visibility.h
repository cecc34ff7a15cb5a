#pragma once

/// Marks an interface class visible across libraries, so its vtable and type information are
/// shared by the host and every plugin even though both build with hidden visibility.
#define GUIDANCE_API __attribute__((visibility("default")))
