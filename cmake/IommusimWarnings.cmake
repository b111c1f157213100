# Our own targets build with -Wall -Wextra and no warnings; third-party headers
# are included as SYSTEM so their warnings do not count against us.
function(iommusim_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow=local -Wnon-virtual-dtor
    $<$<BOOL:${IOMMUSIM_WERROR}>:-Werror>)
endfunction()

# Sanitizer flavours of a target: "asan" = AddressSanitizer + UBSan, "tsan" = ThreadSanitizer.
function(iommusim_sanitize target flavour)
  if(flavour STREQUAL "asan")
    set(flags -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  elseif(flavour STREQUAL "tsan")
    set(flags -fsanitize=thread -fno-omit-frame-pointer)
  else()
    message(FATAL_ERROR "unknown sanitizer flavour ${flavour}")
  endif()
  target_compile_options(${target} PRIVATE ${flags})
  target_link_options(${target} PUBLIC ${flags})
endfunction()
