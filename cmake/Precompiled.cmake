# One precompiled header shared by the host, the tests and every in-tree plugin: parsing LibTorch's
# headers costs ~15 s a translation unit, reusing the PCH about 1 s.
add_library(guidance-pch OBJECT "${CMAKE_CURRENT_LIST_DIR}/pch.cpp")
target_link_libraries(guidance-pch PUBLIC guidance::plugin-api)
target_precompile_headers(guidance-pch PUBLIC
  <torch/torch.h>
  <map>
  <memory>
  <string>
  <vector>)

# Makes `target` reuse the shared precompiled header.
function(guidance_use_pch target)
  target_precompile_headers(${target} REUSE_FROM guidance-pch)
endfunction()
