#pragma once

#include <optional>
#include <string>

namespace guidance {

/// Checks, by reading its ELF header, program headers, dynamic segment and the tables the loader
/// reads while relocating (string, symbol and version tables, hash tables, relocations), that a
/// file is a well-formed shared object for this host: the rules of the ELF specification and
/// glibc's loader that a damaged copy breaks (a load segment grown over the next one, a segment or
/// table past the end of the file, a dynamic entry pointing outside every segment, a symbol name
/// past the string table, a relocation of a symbol past the symbol table or writing outside every
/// writable segment), and the host's class, byte order and machine. glibc's loader maps some such
/// files, and the crash comes later and may depend on the address layout, so a probe in a child
/// process can pass where the host then crashes.
/// Conservative: only what a linker never writes is refused (every 64-bit library of a Debian
/// system passes, and libraries that gcc and clang link with ld.bfd, gold and lld).
///
/// @return why the file is refused, without its path ("its ELF load segments 2 and 3 overlap in
/// memory: the file is damaged"), or std::nullopt.
std::optional<std::string> elf_structure_problem(const std::string& path);

}  // namespace guidance
