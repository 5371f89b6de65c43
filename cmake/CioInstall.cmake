include(CMakePackageConfigHelpers)

install(TARGETS cio_static cio_shared EXPORT cioTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES include/cio.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES include/cio/errno.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cio)

install(EXPORT cioTargets NAMESPACE cio::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cio)
configure_package_config_file(cmake/cioConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/cioConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cio)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/cioConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/cioConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/cioConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cio)

# The .pc file finds its prefix from its own place, so it stays right when
# the install is moved or `cmake --install --prefix` changes the prefix.
file(RELATIVE_PATH CIO_PC_UP "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" CIO_PC_UP "${CIO_PC_UP}")
configure_file(cmake/cio.pc.in ${CMAKE_CURRENT_BINARY_DIR}/cio.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/cio.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
