include(CheckCCompilerFlag)

set(CIO_WARNING_FLAGS)
foreach(flag -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
             -Wmissing-prototypes -Wpointer-arith -Wwrite-strings
             -Wno-missing-field-initializers)
  string(MAKE_C_IDENTIFIER "HAVE${flag}" var)
  check_c_compiler_flag(${flag} ${var})
  if(${var})
    list(APPEND CIO_WARNING_FLAGS ${flag})
  endif()
endforeach()

function(cio_target_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:C>:${CIO_WARNING_FLAGS}>)
endfunction()
