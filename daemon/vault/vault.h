// The offline vault: what porchlight-vault does with a state directory (or a
// copy of one) and the owner's secret key, with no daemon running.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "expected.h"
#include "keys.h"

namespace porchlight::vault {

/// "@UNIXSECONDS", or ISO 8601 ("2026-11-29T14:05:00Z", "...+01:00"; local time without a zone).
Expected<int64_t> parseTime(std::string_view text);

struct ExportResult {
    uint64_t samples = 0;
    uint64_t bytes = 0;
    double seconds = 0;
    int segments = 0;
    std::vector<std::string> warnings;  // e.g. a segment skipped because it failed to authenticate
};

/// One standard MP4 (moov first) of \a camera from \a fromUs to \a toUs,
/// across segment boundaries, gaps held as the last frame. It starts at the
/// keyframe at or before \a fromUs so that the first frame decodes. Written
/// to \a out atomically (a .partial file renamed at the end).
Expected<ExportResult> exportRange(const std::filesystem::path& stateDir,
                                   const keys::OwnerKeyPair& owner, const std::string& camera,
                                   int64_t fromUs, int64_t toUs, const std::filesystem::path& out);

struct VerifyReport {
    int segments = 0;
    uint64_t chunks = 0;
    uint64_t bytes = 0;
    std::vector<std::string> problems;  // each names the file, and the offset where it can
    bool ok() const { return problems.empty(); }
};

/// Authenticate every chunk of every segment and check the index against the files.
Expected<VerifyReport> verify(const std::filesystem::path& stateDir,
                              const keys::OwnerKeyPair& owner);

}  // namespace porchlight::vault
