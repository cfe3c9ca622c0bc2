# Embeds every cl_kernels/*.cl file into one C file as byte arrays, with a name table.
# Pure CMake (no Python in the build). The generated file lives in the build tree only.
function(climp_embed_kernels out_file sources)
  set(script ${CMAKE_BINARY_DIR}/generated/embed_run.cmake)
  file(WRITE ${script} "
set(out \"/* generated from cl_kernels/*.cl by cmake/embed.cmake: do not edit */\\n#include <stddef.h>\\n\")
set(table \"\")
set(n 0)
foreach(src \${SOURCES})
  get_filename_component(stem \${src} NAME_WE)
  file(READ \${src} hex HEX)
  string(LENGTH \"\${hex}\" hexlen)
  math(EXPR nbytes \"\${hexlen} / 2\")
  string(REGEX REPLACE \"([0-9a-f][0-9a-f])\" \"0x\\\\1,\" body \"\${hex}\")
  string(APPEND out \"static const char k_\${stem}[] = {\${body}0x00};\\n\")
  string(APPEND table \"  {\\\"\${stem}\\\", k_\${stem}, \${nbytes}},\\n\")
  math(EXPR n \"\${n} + 1\")
endforeach()
string(APPEND out \"const struct climp_embedded_source { const char *name; const char *text; size_t len; } climp_embedded_sources[] = {\\n\${table}  {NULL, NULL, 0}\\n};\\n\")
file(WRITE \${OUT}.tmp \"\${out}\")
execute_process(COMMAND \${CMAKE_COMMAND} -E copy_if_different \${OUT}.tmp \${OUT})
")
  add_custom_command(OUTPUT ${out_file}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out_file} "-DSOURCES=${sources}" -P ${script}
    DEPENDS ${sources} ${script} COMMENT "Embedding OpenCL kernel sources")
endfunction()
