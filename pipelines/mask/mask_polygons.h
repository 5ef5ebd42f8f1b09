// Privacy mask geometry: the text form of the `plmask` polygons property, and
// its rasterization into per-row spans of covered pixels.
//
// Kept free of GStreamer so that the daemon can validate an owner's masks
// (config, D-Bus, web UI) with exactly the rules the element applies, and so
// that the coverage rule can be tested without a pipeline.
//
// Text syntax (the `polygons` property):
//
//     polygons := ""  |  polygon { ";" polygon }
//     polygon  := point { whitespace point }     (3 to kMaxMaskPoints points)
//     point    := x "," y                        (no space around the comma)
//
// x and y are decimal numbers between 0 and 1 inclusive, in picture
// coordinates: 0,0 is the top left corner of the picture, 1,1 the bottom
// right. Whitespace around polygons is ignored. Example, two masks:
//
//     "0.1,0.1 0.5,0.1 0.5,0.4; 0.6,0.6 0.9,0.6 0.9,0.9 0.6,0.9"
//
// Coverage rule: a pixel is masked when its centre lies inside any polygon,
// by the even-odd rule (so a self-intersecting outline has holes where it
// crosses itself, as in SVG's fill-rule="evenodd").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "expected.h"

namespace porchlight {

/// Corners in normalized picture coordinates, (x, y), each in [0, 1]. The same
/// shape as the daemon's config Polygon::points, so it converts without copies.
using MaskPolygon = std::vector<std::pair<double, double>>;

/// Bounds that keep a rebuild after a change cheap (rows x edges), and far
/// above what anyone draws by hand around a window or a street.
inline constexpr std::size_t kMaxMaskPolygons = 32;
inline constexpr std::size_t kMaxMaskPoints = 64;

/// Parses the `polygons` text. Empty (or blank) text is "no masks". Anything
/// not exactly in the syntax above is an error saying which polygon and point
/// is wrong, so that a typo never silently drops a mask.
Expected<std::vector<MaskPolygon>> parseMaskPolygons(std::string_view text);

/// Checks polygons built in code (the daemon's config) by the same rules as
/// parseMaskPolygons(): 3 to kMaxMaskPoints corners, coordinates in [0, 1].
Expected<void> validateMaskPolygons(std::span<const MaskPolygon> polygons);

/// The text form of \a polygons, which parseMaskPolygons() reads back to the
/// identical values (shortest round-trip decimal form of each coordinate).
std::string formatMaskPolygons(std::span<const MaskPolygon> polygons);

/// A run of covered samples on one row: columns [begin, end).
struct MaskSpan {
    int begin;
    int end;
    bool operator==(const MaskSpan&) const = default;
};

/// Covered samples of one picture plane, as sorted, disjoint, non-adjacent
/// spans per row. Burning the mask into a frame is then one memset per span.
class MaskRaster {
public:
    MaskRaster() = default;
    MaskRaster(int width, int height, std::vector<std::uint32_t> rowStart,
               std::vector<MaskSpan> spans);

    int width() const { return width_; }
    int height() const { return height_; }
    bool empty() const { return spans_.empty(); }
    std::span<const MaskSpan> row(int y) const {
        return {spans_.data() + rowStart_[y], spans_.data() + rowStart_[y + 1]};
    }
    /// Whether the sample at column \a x, row \a y is covered (for tests and
    /// diagnostics; the element walks spans instead).
    bool covers(int x, int y) const;
    /// Number of covered samples.
    std::size_t area() const;

private:
    int width_ = 0;
    int height_ = 0;
    std::vector<std::uint32_t> rowStart_{0};  // height_ + 1 offsets into spans_
    std::vector<MaskSpan> spans_;
};

/// The pixels of a \a width x \a height picture whose centres lie inside any
/// of \a polygons (even-odd rule per polygon, union across polygons).
MaskRaster rasterizeMask(std::span<const MaskPolygon> polygons, int width, int height);

/// The samples of a plane subsampled by 2^xShift horizontally and 2^yShift
/// vertically (chroma of I420: 1, 1) that cover at least one masked pixel of
/// \a full. Masking such a sample whenever any of its pixels is masked means
/// no colour of a masked pixel survives at the mask's edge.
MaskRaster subsampleMask(const MaskRaster& full, int xShift, int yShift);

}  // namespace porchlight
