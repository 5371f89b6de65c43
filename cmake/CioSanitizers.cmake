# Sanitizer builds apply to everything in the tree, library and tests alike,
# so the runtime's fiber annotations and the tests see the same instrumentation.
if(CIO_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(CIO_ASAN=1)
elseif(CIO_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  add_compile_definitions(CIO_TSAN=1)
elseif(NOT CIO_SANITIZE STREQUAL "")
  message(FATAL_ERROR "CIO_SANITIZE must be empty, 'address' or 'thread'")
endif()
