# Defaults used when ./configure has not been run (or a variable is unset).
CONFIG_PREFIX ?= /usr/local
CONFIG_DEBUG ?= n
CONFIG_ASAN ?= n
CONFIG_UBSAN ?= n
CONFIG_FIO_SOURCE_DIR ?=
