# check_shaders.cmake — every SPIR-V module the Vulkan backend embeds must pass spirv-val and translate to
# Metal Shading Language with spirv-cross (the translation MoltenVK performs on Apple GPUs).
#   cmake -DSPIRV_DIR=... -DSPIRV_VAL=... -DSPIRV_CROSS=... [-DCOOPERATIVE_SPIRV_VAL=...] -P check_shaders.cmake
# Plain modules are SPIR-V 1.3 (Vulkan 1.1) and use nothing past MSL 2.0's features; MSL 2.3 is asked
# for as MoltenVK on current macOS does. The cooperative-matrix modules (SPIR-V 1.6, Vulkan 1.3:
# matmul_cooperative, SPV_KHR_cooperative_matrix, and matmul_workgroup, SPV_NV_cooperative_matrix2) are
# validated with a validator that knows those extensions when one was found beside their compiler;
# spirv-cross releases before mid-2023 cannot translate the first, none translates the second to MSL,
# and MoltenVK offers neither extension (so neither module ever reaches Metal): a failed translation of
# those modules alone is reported as not checked, with the reason.
# Prints "skipped: <reason>" (CTest then counts the test as skipped) when the tools are missing.
if(NOT SPIRV_VAL OR NOT SPIRV_CROSS OR NOT EXISTS "${SPIRV_VAL}" OR NOT EXISTS "${SPIRV_CROSS}")
  message("skipped: spirv-val or spirv-cross not found on this machine (Debian: spirv-tools, spirv-cross)")
  return()
endif()
file(GLOB modules ${SPIRV_DIR}/*.spv)
list(LENGTH modules module_count)
if(module_count EQUAL 0)
  message(FATAL_ERROR "no SPIR-V modules in ${SPIRV_DIR}: build the fusegraph-backend-vulkan target first")
endif()
set(checks 0)
set(failures 0)
foreach(module ${modules})
  get_filename_component(name ${module} NAME_WE)
  set(validator ${SPIRV_VAL})
  set(environment vulkan1.1)
  set(cooperative OFF)
  if(name MATCHES "cooperative|workgroup")
    set(cooperative ON)
    set(environment vulkan1.3)
    if(COOPERATIVE_SPIRV_VAL)
      set(validator ${COOPERATIVE_SPIRV_VAL})
    endif()
  endif()
  math(EXPR checks "${checks} + 2")
  execute_process(COMMAND ${validator} --target-env ${environment} ${module} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(result EQUAL 0)
    message("${name}: spirv-val --target-env ${environment}: ok")
  elseif(cooperative AND output MATCHES "Invalid capability operand|Invalid opcode")
    message("${name}: spirv-val: not checked: ${validator} predates the module's cooperative-matrix extension (${output})")
  else()
    message("${name}: spirv-val --target-env ${environment} FAILED:\n${output}")
    math(EXPR failures "${failures} + 1")
  endif()
  execute_process(COMMAND ${SPIRV_CROSS} --msl --msl-version 20300 --output ${SPIRV_DIR}/${name}.metal ${module}
    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(result EQUAL 0)
    message("${name}: spirv-cross --msl --msl-version 20300: ok")
  elseif(cooperative)
    string(STRIP "${output}" output)
    message("${name}: spirv-cross --msl: not checked: this spirv-cross cannot translate the module's cooperative-matrix extension (${output}); MoltenVK offers no cooperative matrices, so this module never reaches Metal")
  else()
    message("${name}: spirv-cross --msl FAILED:\n${output}")
    math(EXPR failures "${failures} + 1")
  endif()
endforeach()
message("vulkan_shaders: ${checks} checks, ${failures} failed")
if(failures GREATER 0)
  message(FATAL_ERROR "${failures} shader check(s) failed")
endif()
