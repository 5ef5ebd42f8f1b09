// Privacy mask geometry: parsing, formatting and scanline rasterization; see
// mask_polygons.h.
#include "mask_polygons.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <system_error>

namespace porchlight {

namespace {

constexpr std::string_view kBlank = " \t\r\n";

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(kBlank);
    if (first == std::string_view::npos)
        return {};
    return s.substr(first, s.find_last_not_of(kBlank) - first + 1);
}

bool inUnitRange(double v) {
    // Written so that NaN fails too.
    return v >= 0.0 && v <= 1.0;
}

// from_chars, unlike strtod, ignores the locale: "0,5" in a German locale
// must not become a coordinate.
bool parseNumber(std::string_view s, double& out) {
    if (s.empty())
        return false;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size();
}

std::string where(std::size_t polygon, std::size_t point) {
    return "polygon " + std::to_string(polygon) + ", point " + std::to_string(point);
}

Error pointError(std::size_t polygon, std::size_t point, std::string_view token,
                 std::string_view problem) {
    return makeError("privacy mask " + where(polygon, point) + " \"" + std::string(token) +
                     "\": " + std::string(problem));
}

Error tooFewPoints(std::size_t polygon, std::size_t count) {
    return makeError("privacy mask polygon " + std::to_string(polygon) + " has " +
                     std::to_string(count) + (count == 1 ? " point" : " points") +
                     "; a polygon needs at least 3 corners");
}

Error tooManyPoints(std::size_t polygon) {
    return makeError("privacy mask polygon " + std::to_string(polygon) + " has more than " +
                     std::to_string(kMaxMaskPoints) +
                     " points; split it into several polygons or simplify its outline");
}

Error tooManyPolygons() {
    return makeError("more than " + std::to_string(kMaxMaskPolygons) +
                     " privacy mask polygons; merge neighbouring ones");
}

// Sorts and merges one row's spans (overlapping or touching) onto the end of
// \a out: rows then hold the fewest, longest memsets.
void appendMerged(std::vector<MaskSpan>& row, std::vector<MaskSpan>& out) {
    std::sort(row.begin(), row.end(),
              [](const MaskSpan& a, const MaskSpan& b) { return a.begin < b.begin; });
    const std::size_t rowFirst = out.size();
    for (const MaskSpan& s : row) {
        if (out.size() > rowFirst && s.begin <= out.back().end)
            out.back().end = std::max(out.back().end, s.end);
        else
            out.push_back(s);
    }
}

int clampColumn(double c, int width) {
    // c is within [-0.5, width] for polygons inside the picture; clamp before
    // converting so that a degenerate value can never index outside a row.
    return static_cast<int>(std::clamp(c, 0.0, static_cast<double>(width)));
}

}  // namespace

Expected<std::vector<MaskPolygon>> parseMaskPolygons(std::string_view text) {
    std::vector<MaskPolygon> polygons;
    if (trim(text).empty())
        return polygons;

    std::size_t polygonIndex = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t semi = std::min(text.find(';', pos), text.size());
        const std::string_view body = trim(text.substr(pos, semi - pos));
        pos = semi + 1;
        ++polygonIndex;

        if (body.empty())
            return makeError("privacy mask polygon " + std::to_string(polygonIndex) +
                             " is empty; polygons are separated by single ';' and a list "
                             "does not end with one");
        if (polygons.size() == kMaxMaskPolygons)
            return tooManyPolygons();

        MaskPolygon polygon;
        std::size_t at = 0;
        while (at < body.size()) {
            const std::size_t end = std::min(body.find_first_of(kBlank, at), body.size());
            const std::string_view token = body.substr(at, end - at);
            at = body.find_first_not_of(kBlank, end);
            if (at == std::string_view::npos)
                at = body.size();

            const std::size_t pointIndex = polygon.size() + 1;
            if (polygon.size() == kMaxMaskPoints)
                return tooManyPoints(polygonIndex);

            const std::size_t comma = token.find(',');
            double x = 0;
            double y = 0;
            if (comma == std::string_view::npos || !parseNumber(token.substr(0, comma), x) ||
                !parseNumber(token.substr(comma + 1), y))
                return pointError(polygonIndex, pointIndex, token,
                                  "expected x,y: two numbers from 0 to 1 joined by a comma "
                                  "without spaces, such as 0.25,0.5");
            if (!inUnitRange(x) || !inUnitRange(y))
                return pointError(polygonIndex, pointIndex, token,
                                  "coordinates must be between 0 and 1 (fractions of the "
                                  "picture's width and height, 0,0 at the top left)");
            polygon.emplace_back(x, y);
        }
        if (polygon.size() < 3)
            return tooFewPoints(polygonIndex, polygon.size());
        polygons.push_back(std::move(polygon));
    }
    return polygons;
}

Expected<void> validateMaskPolygons(std::span<const MaskPolygon> polygons) {
    if (polygons.size() > kMaxMaskPolygons)
        return tooManyPolygons();
    for (std::size_t i = 0; i < polygons.size(); ++i) {
        const MaskPolygon& polygon = polygons[i];
        if (polygon.size() < 3)
            return tooFewPoints(i + 1, polygon.size());
        if (polygon.size() > kMaxMaskPoints)
            return tooManyPoints(i + 1);
        for (std::size_t j = 0; j < polygon.size(); ++j) {
            const auto [x, y] = polygon[j];
            if (!inUnitRange(x) || !inUnitRange(y))
                return makeError("privacy mask " + where(i + 1, j + 1) +
                                 ": coordinates must be between 0 and 1 (fractions of the "
                                 "picture's width and height, 0,0 at the top left)");
        }
    }
    return {};
}

std::string formatMaskPolygons(std::span<const MaskPolygon> polygons) {
    std::string out;
    std::array<char, 32> buf;
    auto number = [&](double v) {
        const auto [ptr, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
        out.append(buf.data(), ec == std::errc() ? ptr : buf.data());
    };
    for (std::size_t i = 0; i < polygons.size(); ++i) {
        if (i > 0)
            out += "; ";
        for (std::size_t j = 0; j < polygons[i].size(); ++j) {
            if (j > 0)
                out += ' ';
            number(polygons[i][j].first);
            out += ',';
            number(polygons[i][j].second);
        }
    }
    return out;
}

MaskRaster::MaskRaster(int width, int height, std::vector<std::uint32_t> rowStart,
                       std::vector<MaskSpan> spans)
    : width_(width), height_(height), rowStart_(std::move(rowStart)), spans_(std::move(spans)) {}

bool MaskRaster::covers(int x, int y) const {
    if (y < 0 || y >= height_)
        return false;
    for (const MaskSpan& s : row(y))
        if (x >= s.begin && x < s.end)
            return true;
    return false;
}

std::size_t MaskRaster::area() const {
    std::size_t n = 0;
    for (const MaskSpan& s : spans_)
        n += static_cast<std::size_t>(s.end - s.begin);
    return n;
}

MaskRaster rasterizeMask(std::span<const MaskPolygon> polygons, int width, int height) {
    width = std::max(width, 0);
    height = std::max(height, 0);

    // Corners in pixel units, where pixel (x, y) has its centre at
    // (x + 0.5, y + 0.5).
    std::vector<std::vector<std::pair<double, double>>> scaled;
    scaled.reserve(polygons.size());
    for (const MaskPolygon& polygon : polygons) {
        auto& s = scaled.emplace_back();
        s.reserve(polygon.size());
        for (const auto& [x, y] : polygon)
            s.emplace_back(x * width, y * height);
    }

    std::vector<std::uint32_t> rowStart;
    rowStart.reserve(static_cast<std::size_t>(height) + 1);
    rowStart.push_back(0);
    std::vector<MaskSpan> spans;
    std::vector<double> crossings;
    std::vector<MaskSpan> row;

    for (int y = 0; y < height; ++y) {
        const double yc = y + 0.5;
        row.clear();
        for (const auto& polygon : scaled) {
            crossings.clear();
            for (std::size_t i = 0; i < polygon.size(); ++i) {
                const auto [ax, ay] = polygon[i];
                const auto [bx, by] = polygon[(i + 1) % polygon.size()];
                // Half-open in y, so a vertex on the scanline counts once and
                // horizontal edges never count: the crossings pair up.
                if ((ay <= yc) != (by <= yc))
                    crossings.push_back(ax + (yc - ay) * (bx - ax) / (by - ay));
            }
            std::sort(crossings.begin(), crossings.end());
            // Even-odd: inside between crossings 0-1, 2-3, ... A centre
            // x + 0.5 is inside when in <= x + 0.5 < out.
            for (std::size_t k = 0; k + 1 < crossings.size(); k += 2) {
                const int begin = clampColumn(std::ceil(crossings[k] - 0.5), width);
                const int end = clampColumn(std::ceil(crossings[k + 1] - 0.5), width);
                if (begin < end)
                    row.push_back({begin, end});
            }
        }
        appendMerged(row, spans);
        rowStart.push_back(static_cast<std::uint32_t>(spans.size()));
    }
    return MaskRaster(width, height, std::move(rowStart), std::move(spans));
}

MaskRaster subsampleMask(const MaskRaster& full, int xShift, int yShift) {
    if (xShift == 0 && yShift == 0)
        return full;
    const int xStep = 1 << xShift;
    const int yStep = 1 << yShift;
    // Rounded up, as GStreamer sizes chroma planes of odd-sized pictures.
    const int width = (full.width() + xStep - 1) >> xShift;
    const int height = (full.height() + yStep - 1) >> yShift;

    std::vector<std::uint32_t> rowStart;
    rowStart.reserve(static_cast<std::size_t>(height) + 1);
    rowStart.push_back(0);
    std::vector<MaskSpan> spans;
    std::vector<MaskSpan> row;
    for (int cy = 0; cy < height; ++cy) {
        row.clear();
        const int lastY = std::min((cy + 1) << yShift, full.height());
        for (int y = cy << yShift; y < lastY; ++y)
            for (const MaskSpan& s : full.row(y))
                row.push_back({s.begin >> xShift, (s.end + xStep - 1) >> xShift});
        appendMerged(row, spans);
        rowStart.push_back(static_cast<std::uint32_t>(spans.size()));
    }
    return MaskRaster(width, height, std::move(rowStart), std::move(spans));
}

}  // namespace porchlight
