#include <iostream>

#include "host/plugins/PluginCatalog.h"

int main() {
  guidance::PluginCatalog catalog;
  catalog.load_directory(guidance::PluginCatalog::default_directory());
  for (const auto& entry : catalog.entries()) std::cout << entry.info.name << "\n";
  return 0;
}
