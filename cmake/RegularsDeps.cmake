# Finds the Debian packages Regulars builds on and exposes each as an
# imported target rg::<name>. Works native and cross (toolchain.cmake points
# pkg-config and find_library at the aarch64 multiarch directories).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
pkg_check_modules(MOSQUITTO REQUIRED IMPORTED_TARGET libmosquitto)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
add_library(rg::sqlite3 ALIAS PkgConfig::SQLITE3)
add_library(rg::cjson ALIAS PkgConfig::CJSON)
add_library(rg::mosquitto ALIAS PkgConfig::MOSQUITTO)
add_library(rg::cmocka ALIAS PkgConfig::CMOCKA)
add_library(rg::microhttpd ALIAS PkgConfig::MHD)

# mbedTLS 2.28 ships neither a .pc file nor a CMake package.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/version.h REQUIRED)
find_library(MBEDTLS_LIB mbedtls REQUIRED)
find_library(MBEDX509_LIB mbedx509 REQUIRED)
find_library(MBEDCRYPTO_LIB mbedcrypto REQUIRED)
add_library(rg_mbedtls INTERFACE)
target_include_directories(rg_mbedtls SYSTEM INTERFACE ${MBEDTLS_INCLUDE_DIR})
target_link_libraries(rg_mbedtls INTERFACE ${MBEDTLS_LIB} ${MBEDX509_LIB} ${MBEDCRYPTO_LIB})
add_library(rg::mbedtls ALIAS rg_mbedtls)

# libnfc: pkg-config natively; when cross-compiling, libnfc-dev:arm64 cannot
# be installed beside the amd64 one (libusb-dev is not multi-arch), so use the
# architecture-independent headers and link the target's libnfc.so.6 by path.
pkg_check_modules(LIBNFC IMPORTED_TARGET libnfc)
if(LIBNFC_FOUND)
  add_library(rg::nfc ALIAS PkgConfig::LIBNFC)
else()
  find_path(LIBNFC_INCLUDE_DIR nfc/nfc.h REQUIRED)
  find_library(LIBNFC_LIB NAMES nfc libnfc.so.6 REQUIRED)
  add_library(rg_nfc INTERFACE)
  target_include_directories(rg_nfc SYSTEM INTERFACE ${LIBNFC_INCLUDE_DIR})
  target_link_libraries(rg_nfc INTERFACE ${LIBNFC_LIB})
  add_library(rg::nfc ALIAS rg_nfc)
endif()
