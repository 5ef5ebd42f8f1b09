// Privacy masks (PRODUCT.md promise 5): the polygons text is parsed strictly,
// and the plmask element blacks out exactly the pixels whose centres lie in a
// polygon -- and every chroma sample that touches one -- in real pipelines,
// also after H.264 encoding; it changes masks from the next frame, passes
// frames through untouched without masks, and loads as a plugin.
#include "plmask.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "gst_ptr.h"
#include "mask_polygons.h"

using namespace porchlight;

namespace {

// ---------------------------------------------------------------------------
// Reference coverage, written the slow obvious way: test every pixel centre
// against every polygon edge (even-odd crossing count).

bool centreInside(const std::vector<MaskPolygon>& polygons, int x, int y, int width, int height) {
    const double px = x + 0.5;
    const double py = y + 0.5;
    for (const MaskPolygon& polygon : polygons) {
        bool inside = false;
        for (std::size_t i = 0; i < polygon.size(); ++i) {
            const double ax = polygon[i].first * width;
            const double ay = polygon[i].second * height;
            const double bx = polygon[(i + 1) % polygon.size()].first * width;
            const double by = polygon[(i + 1) % polygon.size()].second * height;
            if ((ay <= py) != (by <= py) && px < ax + (py - ay) * (bx - ax) / (by - ay))
                inside = !inside;
        }
        if (inside)
            return true;
    }
    return false;
}

// A subsampled sample is masked when any picture pixel it covers is.
bool sampleMasked(const std::vector<MaskPolygon>& polygons, int sx, int sy, int xShift, int yShift,
                  int width, int height) {
    for (int y = sy << yShift; y < std::min((sy + 1) << yShift, height); ++y)
        for (int x = sx << xShift; x < std::min((sx + 1) << xShift, width); ++x)
            if (centreInside(polygons, x, y, width, height))
                return true;
    return false;
}

std::vector<MaskPolygon> parsed(const std::string& text) {
    auto p = parseMaskPolygons(text);
    EXPECT_TRUE(p.hasValue()) << text << ": " << (p ? "" : p.error().message);
    return p ? *p : std::vector<MaskPolygon>{};
}

// ---------------------------------------------------------------------------
// Parsing

TEST(MaskPolygonsParse, ReadsTheDocumentedExample) {
    auto p = parseMaskPolygons("0.1,0.1 0.5,0.1 0.5,0.4; 0.6,0.6 0.9,0.6 0.9,0.9 0.6,0.9");
    ASSERT_TRUE(p.hasValue()) << p.error().message;
    ASSERT_EQ(p->size(), 2u);
    EXPECT_EQ((*p)[0], (MaskPolygon{{0.1, 0.1}, {0.5, 0.1}, {0.5, 0.4}}));
    EXPECT_EQ((*p)[1], (MaskPolygon{{0.6, 0.6}, {0.9, 0.6}, {0.9, 0.9}, {0.6, 0.9}}));
}

TEST(MaskPolygonsParse, AcceptsEdgesOfThePictureAndLooseWhitespace) {
    auto p = parseMaskPolygons("  0,0\t1,0   1,1 ;\n0,1 1,1 0.5,.5e0  ");
    ASSERT_TRUE(p.hasValue()) << p.error().message;
    ASSERT_EQ(p->size(), 2u);
    EXPECT_EQ((*p)[0], (MaskPolygon{{0, 0}, {1, 0}, {1, 1}}));
    EXPECT_EQ((*p)[1], (MaskPolygon{{0, 1}, {1, 1}, {0.5, 0.5}}));
}

TEST(MaskPolygonsParse, EmptyTextMeansNoMasks) {
    for (const char* text : {"", "   ", "\t\n"}) {
        auto p = parseMaskPolygons(text);
        ASSERT_TRUE(p.hasValue()) << '"' << text << '"';
        EXPECT_TRUE(p->empty());
    }
}

TEST(MaskPolygonsParse, RefusesFewerThanThreePoints) {
    for (const char* text : {"0.1,0.1", "0.1,0.1 0.5,0.5", "0,0 1,0 1,1; 0.2,0.2 0.3,0.3"}) {
        auto p = parseMaskPolygons(text);
        ASSERT_FALSE(p.hasValue()) << text;
        EXPECT_NE(p.error().message.find("at least 3"), std::string::npos) << p.error().message;
    }
    auto p = parseMaskPolygons("0,0 1,0 1,1; 0.2,0.2 0.3,0.3");
    ASSERT_FALSE(p.hasValue());
    EXPECT_NE(p.error().message.find("polygon 2 has 2 points"), std::string::npos)
        << p.error().message;
}

TEST(MaskPolygonsParse, RefusesCoordinatesOutsideThePicture) {
    for (const char* text : {"1.5,0 1,0 1,1", "0,0 1,-0.1 1,1", "0,0 1,0 1,1.0001", "0,0 1,0 1,2e0",
                             "nan,0 1,0 1,1", "inf,0 1,0 1,1", "0,0 1,0 1,-inf"}) {
        auto p = parseMaskPolygons(text);
        ASSERT_FALSE(p.hasValue()) << text;
        EXPECT_NE(p.error().message.find("between 0 and 1"), std::string::npos)
            << text << ": " << p.error().message;
    }
    auto p = parseMaskPolygons("0,0 1,0 1,1; 0,0 1,0 0.5,1.5");
    ASSERT_FALSE(p.hasValue());
    EXPECT_NE(p.error().message.find("polygon 2, point 3 \"0.5,1.5\""), std::string::npos)
        << p.error().message;
}

TEST(MaskPolygonsParse, RefusesJunk) {
    for (const char* text : {
             "abc",
             "0.1 0.2 0.3",                  // no commas
             "0.1,0.1 0.5,0.1 0.5,0.4;",     // trailing separator
             "; 0.1,0.1 0.5,0.1 0.5,0.4",    // empty first polygon
             "0,0 1,0 1,1;; 0,0 1,0 1,1",    // empty polygon between
             "0.1, 0.1 0.5,0.1 0.5,0.4",     // space after the comma
             "0.1,0.1,0.2 0.5,0.1 0.5,0.4",  // three numbers
             "0.1,0.1 0.5,0.1 0.5,",         // missing y
             ",0.1 0.5,0.1 0.5,0.4",         // missing x
             "+0.1,0.1 0.5,0.1 0.5,0.4",     // sign
             "0x1,0 1,0 1,1",                // hex
             "0.1,0.1 0.5,0.1 0.5,0.4x",     // trailing garbage
             "0;1,0 1,1 0,1",                // ';' inside a point
             "0.1;0.1 0.5;0.1 0.5;0.4",      // ';' for ','
         }) {
        auto p = parseMaskPolygons(text);
        EXPECT_FALSE(p.hasValue()) << text;
    }
    auto p = parseMaskPolygons("0,0 1,0 1,1; 0,0 zero,1 1,1");
    ASSERT_FALSE(p.hasValue());
    EXPECT_NE(p.error().message.find("polygon 2, point 2 \"zero,1\""), std::string::npos)
        << p.error().message;
}

TEST(MaskPolygonsParse, RefusesMoreThanTheLimits) {
    std::string manyPoints;
    for (std::size_t i = 0; i <= kMaxMaskPoints; ++i)
        manyPoints += "0.5,0.5 ";
    EXPECT_FALSE(parseMaskPolygons(manyPoints).hasValue());

    std::string manyPolygons;
    for (std::size_t i = 0; i <= kMaxMaskPolygons; ++i)
        manyPolygons += std::string(i ? ";" : "") + "0,0 1,0 1,1";
    EXPECT_FALSE(parseMaskPolygons(manyPolygons).hasValue());
    EXPECT_TRUE(parseMaskPolygons(manyPolygons.substr(manyPolygons.find(';') + 1)).hasValue());
}

TEST(MaskPolygonsParse, FormatReadsBackToTheSameValues) {
    const std::vector<MaskPolygon> polygons{
        {{0.1, 0.1}, {0.5, 0.1}, {0.5, 0.4}},
        {{0, 0}, {1, 1}, {1.0 / 3, 2.0 / 3}, {0.123456789012345, 1}},
    };
    const std::string text = formatMaskPolygons(polygons);
    EXPECT_EQ(text.substr(0, 24), "0.1,0.1 0.5,0.1 0.5,0.4;");
    auto back = parseMaskPolygons(text);
    ASSERT_TRUE(back.hasValue()) << back.error().message;
    EXPECT_EQ(*back, polygons);
    EXPECT_EQ(formatMaskPolygons({}), "");
}

TEST(MaskPolygonsParse, ValidateAppliesTheSameRules) {
    EXPECT_TRUE(validateMaskPolygons(std::vector<MaskPolygon>{{{0, 0}, {1, 0}, {1, 1}}}));
    EXPECT_FALSE(validateMaskPolygons(std::vector<MaskPolygon>{{{0, 0}, {1, 0}}}));
    EXPECT_FALSE(validateMaskPolygons(std::vector<MaskPolygon>{{{0, 0}, {1, 0}, {1, 1.5}}}));
    EXPECT_TRUE(validateMaskPolygons({}));
}

// ---------------------------------------------------------------------------
// Rasterization against the brute-force reference

TEST(MaskRasterize, MatchesPixelCentresForRandomPolygons) {
    std::mt19937 rng(20240601);
    std::uniform_real_distribution<double> coord(0.0, 1.0);
    std::uniform_int_distribution<int> corners(3, 9);
    std::uniform_int_distribution<int> count(1, 3);
    for (int round = 0; round < 200; ++round) {
        // Odd sizes too: chroma planes round up.
        const int width = 16 + round % 37;
        const int height = 9 + round % 29;
        std::vector<MaskPolygon> polygons(static_cast<std::size_t>(count(rng)));
        for (auto& polygon : polygons) {
            polygon.resize(static_cast<std::size_t>(corners(rng)));
            for (auto& [x, y] : polygon) {
                x = coord(rng);
                y = coord(rng);
            }
        }
        const MaskRaster full = rasterizeMask(polygons, width, height);
        ASSERT_EQ(full.width(), width);
        ASSERT_EQ(full.height(), height);
        for (int y = 0; y < height; ++y)
            for (int x = 0; x < width; ++x)
                ASSERT_EQ(full.covers(x, y), centreInside(polygons, x, y, width, height))
                    << formatMaskPolygons(polygons) << " at " << x << "," << y << " in " << width
                    << "x" << height;

        for (auto [xs, ys] : {std::pair{1, 1}, std::pair{1, 0}}) {
            const MaskRaster sub = subsampleMask(full, xs, ys);
            ASSERT_EQ(sub.width(), (width + (1 << xs) - 1) >> xs);
            ASSERT_EQ(sub.height(), (height + (1 << ys) - 1) >> ys);
            for (int y = 0; y < sub.height(); ++y)
                for (int x = 0; x < sub.width(); ++x)
                    ASSERT_EQ(sub.covers(x, y),
                              sampleMasked(polygons, x, y, xs, ys, width, height));
        }
    }
}

TEST(MaskRasterize, SpansAreSortedDisjointAndMergedAcrossPolygons) {
    // Two overlapping rectangles and one touching the second: one span a row.
    const auto polygons =
        parsed("0,0 0.5,0 0.5,1 0,1; 0.25,0 0.75,0 0.75,1 0.25,1; 0.75,0 1,0 1,0.5 0.75,0.5");
    const MaskRaster r = rasterizeMask(polygons, 8, 4);
    EXPECT_EQ(std::vector<MaskSpan>(r.row(0).begin(), r.row(0).end()),
              (std::vector<MaskSpan>{{0, 8}}));
    EXPECT_EQ(std::vector<MaskSpan>(r.row(3).begin(), r.row(3).end()),
              (std::vector<MaskSpan>{{0, 6}}));
    EXPECT_EQ(r.area(), 8u * 2 + 6u * 2);
}

TEST(MaskRasterize, NoPolygonsCoverNothing) {
    const MaskRaster r = rasterizeMask({}, 64, 48);
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(r.height(), 48);
    EXPECT_TRUE(r.row(47).empty());
}

// ---------------------------------------------------------------------------
// Real pipelines

// One decoded picture, per component, in that component's own sample grid.
struct Image {
    GstVideoInfo info{};
    std::vector<std::vector<std::uint8_t>> components;
    std::vector<int> widths;
    std::vector<int> heights;

    int nComponents() const { return static_cast<int>(components.size()); }
    std::uint8_t at(int c, int x, int y) const {
        return components[static_cast<std::size_t>(c)]
                         [static_cast<std::size_t>(y) * static_cast<std::size_t>(widths[c]) +
                          static_cast<std::size_t>(x)];
    }
    int xShift(int c) const { return GST_VIDEO_FORMAT_INFO_W_SUB(info.finfo, c); }
    int yShift(int c) const { return GST_VIDEO_FORMAT_INFO_H_SUB(info.finfo, c); }
};

Image toImage(GstSample* sample) {
    Image image;
    EXPECT_TRUE(gst_video_info_from_caps(&image.info, gst_sample_get_caps(sample)));
    GstVideoFrame frame;
    if (!gst_video_frame_map(&frame, &image.info, gst_sample_get_buffer(sample), GST_MAP_READ)) {
        ADD_FAILURE() << "cannot map frame";
        return image;
    }
    for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS(&frame); ++c) {
        const int w = GST_VIDEO_FRAME_COMP_WIDTH(&frame, c);
        const int h = GST_VIDEO_FRAME_COMP_HEIGHT(&frame, c);
        const auto* data = static_cast<const std::uint8_t*>(GST_VIDEO_FRAME_COMP_DATA(&frame, c));
        const int stride = GST_VIDEO_FRAME_COMP_STRIDE(&frame, c);
        const int pstride = GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, c);
        std::vector<std::uint8_t> plane;
        plane.reserve(static_cast<std::size_t>(w) * static_cast<std::size_t>(h));
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                plane.push_back(data[y * stride + x * pstride]);
        image.components.push_back(std::move(plane));
        image.widths.push_back(w);
        image.heights.push_back(h);
    }
    gst_video_frame_unmap(&frame);
    return image;
}

GstPtr<GstElement> launch(const std::string& description) {
    GError* error = nullptr;
    GstElement* e = gst_parse_launch(description.c_str(), &error);
    if (error) {
        ADD_FAILURE() << description << ": " << error->message;
        g_error_free(error);
    }
    return GstPtr<GstElement>::ref(e);
}

GstPtr<GstElement> child(GstElement* bin, const char* name) {
    return GstPtr<GstElement>::adopt(gst_bin_get_by_name(GST_BIN(bin), name));
}

void expectNoBusError(GstElement* pipeline) {
    auto bus = GstPtr<GstBus>::adopt(gst_element_get_bus(pipeline));
    while (auto msg =
               GstPtr<GstMessage>::adopt(gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR))) {
        GError* error = nullptr;
        gst_message_parse_error(msg.get(), &error, nullptr);
        ADD_FAILURE() << "pipeline error: " << (error ? error->message : "?");
        g_clear_error(&error);
    }
}

// Plays \a description to EOS and returns what its appsink "sink" received.
std::vector<Image> run(const std::string& description) {
    std::vector<Image> images;
    auto pipeline = launch(description);
    if (!pipeline)
        return images;
    auto sink = child(pipeline.get(), "sink");
    EXPECT_NE(gst_element_set_state(pipeline.get(), GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    while (auto sample = GstPtr<GstSample>::adopt(
               gst_app_sink_try_pull_sample(GST_APP_SINK(sink.get()), 20 * GST_SECOND)))
        images.push_back(toImage(sample.get()));
    expectNoBusError(pipeline.get());
    gst_element_set_state(pipeline.get(), GST_STATE_NULL);
    return images;
}

Image runOne(const std::string& description) {
    auto images = run(description);
    EXPECT_EQ(images.size(), 1u) << description;
    return images.empty() ? Image{} : std::move(images[0]);
}

// Every sample inside the mask (by the reference rule, per component
// subsampling) equals that component's black, every other equals \a before.
void expectMaskedExactly(const Image& after, const Image& before,
                         const std::vector<MaskPolygon>& polygons, const std::vector<int>& black) {
    ASSERT_EQ(after.nComponents(), before.nComponents());
    ASSERT_GE(static_cast<int>(black.size()), after.nComponents());
    const int width = GST_VIDEO_INFO_WIDTH(&after.info);
    const int height = GST_VIDEO_INFO_HEIGHT(&after.info);
    for (int c = 0; c < after.nComponents(); ++c) {
        int wrong = 0;
        int masked = 0;
        int indistinct = 0;  // masked, but black in the source already
        for (int y = 0; y < after.heights[c]; ++y) {
            for (int x = 0; x < after.widths[c]; ++x) {
                const bool in =
                    sampleMasked(polygons, x, y, after.xShift(c), after.yShift(c), width, height);
                masked += in;
                indistinct += in && before.at(c, x, y) == black[c];
                const int want = in ? black[c] : before.at(c, x, y);
                if (after.at(c, x, y) != want && ++wrong <= 5) {
                    ADD_FAILURE() << "component " << c << " at " << x << "," << y << ": "
                                  << int(after.at(c, x, y)) << ", want " << want
                                  << (in ? " (masked)" : " (untouched)");
                }
            }
        }
        EXPECT_EQ(wrong, 0) << "component " << c;
        // The test must have been able to tell masked from untouched.
        if (!polygons.empty()) {
            EXPECT_GT(masked, 0) << "component " << c;
        }
        EXPECT_EQ(indistinct, 0) << "component " << c;
    }
}

class MaskElementTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(porchlightRegisterElements()); }
};

// A solid colour whose every component differs from black and neutral chroma,
// so a stray or missing chroma write shows.
// Translucent, so that alpha formats show the mask made opaque.
constexpr const char* kColour =
    "videotestsrc pattern=solid-color foreground-color=0x80c04080 num-buffers=1";

std::string maskPipeline(const std::string& source, const std::string& caps,
                         const std::string& polygons) {
    return source + " ! " + caps + " ! plmask polygons=\"" + polygons +
           "\" ! appsink name=sink sync=false";
}

TEST_F(MaskElementTest, RegistersTwiceWithoutHarm) {
    EXPECT_TRUE(porchlightRegisterElements());
    auto e = GstPtr<GstElement>::ref(gst_element_factory_make("plmask", nullptr));
    ASSERT_TRUE(e);
    EXPECT_EQ(G_OBJECT_TYPE(e.get()), GST_TYPE_PL_MASK);
}

struct FormatCase {
    const char* format;
    int width;
    int height;
};

void PrintTo(const FormatCase& c, std::ostream* os) {
    *os << c.format << ' ' << c.width << 'x' << c.height;
}

class MaskYuvTest : public MaskElementTest, public ::testing::WithParamInterface<FormatCase> {
protected:
    std::string caps() const {
        return std::string("video/x-raw,format=") + GetParam().format +
               ",width=" + std::to_string(GetParam().width) +
               ",height=" + std::to_string(GetParam().height);
    }
    void check(const std::string& polygons) {
        SCOPED_TRACE(polygons);
        const Image before = runOne(maskPipeline(kColour, caps(), ""));
        const Image after = runOne(maskPipeline(kColour, caps(), polygons));
        expectMaskedExactly(after, before, parsed(polygons), {16, 128, 128});
    }
};

TEST_P(MaskYuvTest, Rectangle) {
    check("0.25,0.25 0.5,0.25 0.5,0.5 0.25,0.5");
}

TEST_P(MaskYuvTest, Triangle) {
    check("0.1,0.1 0.9,0.2 0.4,0.9");
}

TEST_P(MaskYuvTest, ConcavePolygon) {
    // A "V" notch cut into the bottom of a square.
    check("0.1,0.1 0.9,0.1 0.9,0.9 0.5,0.4 0.1,0.9");
}

TEST_P(MaskYuvTest, SelfIntersectingPolygonUsesEvenOdd) {
    check("0.1,0.1 0.9,0.9 0.9,0.1 0.1,0.9");
}

TEST_P(MaskYuvTest, TwoPolygons) {
    check("0.1,0.1 0.5,0.1 0.5,0.4; 0.6,0.6 0.9,0.6 0.9,0.9 0.6,0.9");
}

TEST_P(MaskYuvTest, WholePicture) {
    check("0,0 1,0 1,1 0,1");
}

INSTANTIATE_TEST_SUITE_P(Formats, MaskYuvTest,
                         ::testing::Values(FormatCase{"I420", 64, 48}, FormatCase{"NV12", 64, 48},
                                           FormatCase{"I420", 63, 47}, FormatCase{"NV12", 62, 46},
                                           FormatCase{"NV21", 64, 48}, FormatCase{"YV12", 64, 48},
                                           FormatCase{"Y42B", 64, 48}, FormatCase{"Y444", 64, 48}),
                         [](const auto& info) {
                             return std::string(info.param.format) + "_" +
                                    std::to_string(info.param.width) + "x" +
                                    std::to_string(info.param.height);
                         });

// The edge rule spelled out by hand for I420 64x48: luma columns 17..30 and
// rows 13..22 are masked; chroma sample (8, 6) covers luma 16..17 x 12..13, of
// which only (17, 13) is masked -- and still it is blacked, so no colour of a
// masked pixel survives in a shared chroma sample.
TEST_F(MaskElementTest, ChromaSampleIsBlackedWhenAnyOfItsPixelsIsMasked) {
    // 17/64 = 0.265625, 31/64 = 0.484375, 13/48 and 23/48 as exact-enough decimals.
    const std::string polygons =
        "0.265625,0.2708333 0.484375,0.2708333 0.484375,0.4791667 0.265625,0.4791667";
    for (const char* format : {"I420", "NV12"}) {
        SCOPED_TRACE(format);
        const std::string caps =
            std::string("video/x-raw,format=") + format + ",width=64,height=48";
        const Image before = runOne(maskPipeline(kColour, caps, ""));
        const Image img = runOne(maskPipeline(kColour, caps, polygons));
        ASSERT_EQ(img.nComponents(), 3);
        // Luma: exactly [17, 31) x [13, 23).
        for (int y = 0; y < 48; ++y)
            for (int x = 0; x < 64; ++x)
                ASSERT_EQ(img.at(0, x, y) == 16, x >= 17 && x < 31 && y >= 13 && y < 23)
                    << x << "," << y;
        // Chroma: [8, 16) x [6, 12): half-covered edge samples included.
        for (int c = 1; c <= 2; ++c)
            for (int y = 0; y < 24; ++y)
                for (int x = 0; x < 32; ++x) {
                    const bool in = x >= 8 && x < 16 && y >= 6 && y < 12;
                    ASSERT_EQ(img.at(c, x, y), in ? 128 : before.at(c, x, y))
                        << "component " << c << " at " << x << "," << y;
                }
        EXPECT_EQ(img.at(0, 16, 12), before.at(0, 16, 12));  // luma of the edge untouched
        EXPECT_EQ(img.at(1, 8, 6), 128);                     // its shared chroma blacked
    }
}

struct BlackCase {
    const char* caps;
    std::vector<int> black;
};

void PrintTo(const BlackCase& c, std::ostream* os) {
    *os << c.caps;
}

class MaskBlackTest : public MaskElementTest, public ::testing::WithParamInterface<BlackCase> {};

TEST_P(MaskBlackTest, BlackIsTheFormatsBlack) {
    const std::string polygons = "0.2,0.2 0.8,0.3 0.6,0.9";
    const std::string caps = std::string(GetParam().caps) + ",width=40,height=30";
    const Image before = runOne(maskPipeline(kColour, caps, ""));
    const Image after = runOne(maskPipeline(kColour, caps, polygons));
    expectMaskedExactly(after, before, parsed(polygons), GetParam().black);
}

INSTANTIATE_TEST_SUITE_P(
    Formats, MaskBlackTest,
    ::testing::Values(
        BlackCase{"video/x-raw,format=GRAY8", {0}},
        // Full range (1:4:0:0 is bt601 with 0..255; GStreamer 1.22 reads "jpeg" as limited).
        BlackCase{"video/x-raw,format=I420,colorimetry=1:4:0:0", {0, 128, 128}},
        BlackCase{"video/x-raw,format=BGRx", {0, 0, 0}},
        BlackCase{"video/x-raw,format=RGBx", {0, 0, 0}},
        BlackCase{"video/x-raw,format=RGB", {0, 0, 0}},
        BlackCase{"video/x-raw,format=ARGB", {0, 0, 0, 255}}),
    [](const auto& info) { return "Case" + std::to_string(info.index); });

TEST_F(MaskElementTest, WithoutPolygonsFramesPassUntouched) {
    const std::string caps = "video/x-raw,format=I420,width=64,height=48";
    const Image plain = runOne("videotestsrc pattern=smpte num-buffers=1 ! " + caps +
                               " ! appsink name=sink sync=false");
    const Image masked = runOne(maskPipeline("videotestsrc pattern=smpte num-buffers=1", caps, ""));
    ASSERT_EQ(masked.nComponents(), 3);
    for (int c = 0; c < 3; ++c)
        EXPECT_EQ(masked.components[c], plain.components[c]) << "component " << c;
}

// ---------------------------------------------------------------------------
// Run-time changes, driven one frame at a time through appsrc so that "the
// next frame" is exact.

class MaskRuntimeTest : public MaskElementTest {
protected:
    static constexpr int kWidth = 64;
    static constexpr int kHeight = 48;

    void SetUp() override {
        MaskElementTest::SetUp();
        pipeline_ = launch(
            "appsrc name=src format=time caps=video/x-raw,format=I420,width=64,height=48,"
            "framerate=10/1 ! plmask name=mask ! appsink name=sink sync=false");
        ASSERT_TRUE(pipeline_);
        src_ = child(pipeline_.get(), "src");
        mask_ = child(pipeline_.get(), "mask");
        sink_ = child(pipeline_.get(), "sink");
        ASSERT_NE(gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING),
                  GST_STATE_CHANGE_FAILURE);
        handler_ = g_log_set_handler("plmask", G_LOG_LEVEL_WARNING, captureWarning, &warnings_);
    }
    void TearDown() override {
        g_log_remove_handler("plmask", handler_);
        if (pipeline_) {
            expectNoBusError(pipeline_.get());
            gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
        }
    }

    static void captureWarning(const gchar*, GLogLevelFlags, const gchar* message, gpointer data) {
        static_cast<std::vector<std::string>*>(data)->push_back(message);
    }

    // A red I420 frame of the current size, with the next timestamp.
    GstPtr<GstBuffer> redFrame() {
        const std::size_t luma =
            static_cast<std::size_t>(width_) * static_cast<std::size_t>(height_);
        GstBuffer* buffer = gst_buffer_new_allocate(nullptr, luma * 3 / 2, nullptr);
        GstMapInfo map;
        gst_buffer_map(buffer, &map, GST_MAP_WRITE);
        std::memset(map.data, 81, luma);
        std::memset(map.data + luma, 90, luma / 4);
        std::memset(map.data + luma + luma / 4, 240, luma / 4);
        gst_buffer_unmap(buffer, &map);
        GST_BUFFER_PTS(buffer) = frames_ * GST_SECOND / 10;
        GST_BUFFER_DURATION(buffer) = GST_SECOND / 10;
        ++frames_;
        return GstPtr<GstBuffer>::adopt(buffer);
    }

    GstPtr<GstCaps> caps() const {
        return GstPtr<GstCaps>::adopt(gst_caps_new_simple(
            "video/x-raw", "format", G_TYPE_STRING, "I420", "width", G_TYPE_INT, width_, "height",
            G_TYPE_INT, height_, "framerate", GST_TYPE_FRACTION, 10, 1, nullptr));
    }

    // What an unmasked frame of the current size looks like.
    Image input() {
        auto buffer = redFrame();
        auto sample =
            GstPtr<GstSample>::adopt(gst_sample_new(buffer.get(), caps().get(), nullptr, nullptr));
        return toImage(sample.get());
    }

    // Pushes one frame and returns what came out, and whether its pixels are
    // the very memory that went in.
    Image pushAndPull(bool* same = nullptr) {
        auto in = redFrame();
        EXPECT_EQ(gst_app_src_push_buffer(GST_APP_SRC(src_.get()), gst_buffer_ref(in.get())),
                  GST_FLOW_OK);
        auto sample = GstPtr<GstSample>::adopt(
            gst_app_sink_try_pull_sample(GST_APP_SINK(sink_.get()), 10 * GST_SECOND));
        if (!sample) {
            ADD_FAILURE() << "no frame out";
            return {};
        }
        // Passthrough may still hand on a new GstBuffer (the base class
        // flags the first one DISCONT), but then shares its memory.
        if (same)
            *same = gst_buffer_peek_memory(gst_sample_get_buffer(sample.get()), 0) ==
                    gst_buffer_peek_memory(in.get(), 0);
        // We held a reference, so the buffer was not writable: masking must
        // have worked on a copy, leaving what other holders see intact.
        GstMapInfo map;
        gst_buffer_map(in.get(), &map, GST_MAP_READ);
        EXPECT_EQ(map.data[0], 81);
        EXPECT_EQ(map.data[width_ * height_ / 2 + width_ / 2], 81);
        gst_buffer_unmap(in.get(), &map);
        return toImage(sample.get());
    }

    void setPolygons(const char* text) { g_object_set(mask_.get(), "polygons", text, nullptr); }
    std::string polygons() {
        gchar* text = nullptr;
        g_object_get(mask_.get(), "polygons", &text, nullptr);
        std::string s = text ? text : "";
        g_free(text);
        return s;
    }

    GstPtr<GstElement> pipeline_;
    GstPtr<GstElement> src_;
    GstPtr<GstElement> mask_;
    GstPtr<GstElement> sink_;
    std::vector<std::string> warnings_;
    guint handler_ = 0;
    guint64 frames_ = 0;
    int width_ = kWidth;
    int height_ = kHeight;
};

TEST_F(MaskRuntimeTest, NewPolygonsApplyFromTheNextFrame) {
    const char* a = "0.1,0.1 0.4,0.1 0.4,0.4 0.1,0.4";
    const char* b = "0.5,0.5 0.9,0.5 0.7,0.95";

    bool same = true;
    const Image unmasked = pushAndPull(&same);
    EXPECT_TRUE(same) << "no masks: the buffer should pass through as is";
    EXPECT_TRUE(gst_base_transform_is_passthrough(GST_BASE_TRANSFORM(mask_.get())));

    setPolygons(a);
    EXPECT_EQ(polygons(), a);
    expectMaskedExactly(pushAndPull(&same), unmasked, parsed(a), {16, 128, 128});
    EXPECT_FALSE(same);

    setPolygons(b);
    expectMaskedExactly(pushAndPull(), unmasked, parsed(b), {16, 128, 128});
    expectMaskedExactly(pushAndPull(), unmasked, parsed(b), {16, 128, 128});
    EXPECT_TRUE(warnings_.empty());
}

TEST_F(MaskRuntimeTest, InvalidPolygonsAreRefusedAndThePreviousMasksStay) {
    const char* a = "0.1,0.1 0.4,0.1 0.4,0.4 0.1,0.4";
    const Image unmasked = pushAndPull();
    setPolygons(a);
    expectMaskedExactly(pushAndPull(), unmasked, parsed(a), {16, 128, 128});

    for (const char* bad : {"0.1,0.1 0.5,0.5", "0,0 1,0 1,1.5", "junk", "0,0 1,0 1,1;"}) {
        warnings_.clear();
        setPolygons(bad);
        ASSERT_EQ(warnings_.size(), 1u) << bad;
        EXPECT_NE(warnings_[0].find("previous masks stay"), std::string::npos) << warnings_[0];
        EXPECT_NE(warnings_[0].find(bad), std::string::npos) << warnings_[0];
        EXPECT_EQ(polygons(), a);
        expectMaskedExactly(pushAndPull(), unmasked, parsed(a), {16, 128, 128});
    }
}

TEST_F(MaskRuntimeTest, FollowsAResolutionChange) {
    const char* a = "0.1,0.1 0.9,0.2 0.4,0.9";
    setPolygons(a);
    expectMaskedExactly(pushAndPull(), input(), parsed(a), {16, 128, 128});

    // Half the size while masking: the spans must be rebuilt for the new
    // picture, not reused (which would mask the wrong place, or write past
    // the rows).
    width_ = 32;
    height_ = 24;
    g_object_set(src_.get(), "caps", caps().get(), nullptr);
    const Image small = pushAndPull();
    ASSERT_EQ(GST_VIDEO_INFO_WIDTH(&small.info), 32);
    expectMaskedExactly(small, input(), parsed(a), {16, 128, 128});
}

TEST_F(MaskRuntimeTest, ClearingThePolygonsReturnsToPassthrough) {
    const char* a = "0.1,0.1 0.4,0.1 0.4,0.4 0.1,0.4";
    const Image unmasked = pushAndPull();
    setPolygons(a);
    expectMaskedExactly(pushAndPull(), unmasked, parsed(a), {16, 128, 128});

    setPolygons("");
    bool same = false;
    const Image cleared = pushAndPull(&same);
    EXPECT_TRUE(same);
    expectMaskedExactly(cleared, unmasked, {}, {16, 128, 128});
    EXPECT_TRUE(gst_base_transform_is_passthrough(GST_BASE_TRANSFORM(mask_.get())));

    // And masks again after that.
    setPolygons(a);
    expectMaskedExactly(pushAndPull(&same), unmasked, parsed(a), {16, 128, 128});
    EXPECT_FALSE(same);
}

// ---------------------------------------------------------------------------
// Through the encoder: what a recording holds.

TEST_F(MaskElementTest, MaskSurvivesH264EncodeAndDecode) {
    for (const char* factory : {"x264enc", "avdec_h264", "h264parse"}) {
        auto f = gst_element_factory_find(factory);
        if (!f)
            GTEST_SKIP() << factory << " is not installed";
        gst_object_unref(f);
    }
    // Masks: x [80, 160) x y [60, 120), and a triangle lower left.
    const std::string polygons = "0.25,0.25 0.5,0.25 0.5,0.5 0.25,0.5; 0.05,0.6 0.3,0.95 0.05,0.95";
    const auto images =
        run("videotestsrc pattern=white num-buffers=10 ! "
            "video/x-raw,format=I420,width=320,height=240,framerate=10/1 ! plmask polygons=\"" +
            polygons +
            "\" ! x264enc speed-preset=ultrafast tune=zerolatency key-int-max=5 ! h264parse ! "
            "avdec_h264 ! video/x-raw,format=I420 ! appsink name=sink sync=false");
    ASSERT_EQ(images.size(), 10u);
    const auto mask = parsed(polygons);
    for (std::size_t i = 0; i < images.size(); ++i) {
        const Image& img = images[i];
        int darkWrong = 0;
        int brightWrong = 0;
        for (int y = 0; y < 240; ++y) {
            for (int x = 0; x < 320; ++x) {
                const int luma = img.at(0, x, y);
                if (centreInside(mask, x, y, 320, 240))
                    darkWrong += luma > 24;
                // Well clear of both masks (beyond codec ringing at their edges).
                else if (x >= 200 && y < 200)
                    brightWrong += luma < 200;
            }
        }
        EXPECT_EQ(darkWrong, 0) << "frame " << i << ": masked pixels brighter than Y=24";
        EXPECT_EQ(brightWrong, 0) << "frame " << i << ": unmasked pixels darker than Y=200";
    }
}

// ---------------------------------------------------------------------------
// The loadable plugin, seen by the stock GStreamer tools.

class MaskPluginTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!std::filesystem::exists(kPlugin))
            FAIL() << kPlugin << " not built";
        char tmpl[] = "/tmp/plmask-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        tmp_ = tmpl;
    }
    void TearDown() override {
        if (!tmp_.empty())
            std::filesystem::remove_all(tmp_);
    }

    // Runs a GStreamer tool with only the build directory added to the plugin
    // path and a registry of its own (never the user's cache).
    int tool(std::vector<std::string> argv, std::string& output) {
        gchar* path = g_find_program_in_path(argv[0].c_str());
        if (!path)
            return -1;
        argv[0] = path;
        g_free(path);
        gchar** env = g_get_environ();
        env = g_environ_setenv(env, "GST_PLUGIN_PATH", kPlugin.parent_path().c_str(), TRUE);
        env = g_environ_setenv(env, "GST_REGISTRY", (tmp_ / "registry.bin").c_str(), TRUE);
        std::vector<gchar*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        gchar* out = nullptr;
        gint status = 0;
        GError* error = nullptr;
        const gboolean ok = g_spawn_sync(nullptr, args.data(), env, G_SPAWN_STDERR_TO_DEV_NULL,
                                         nullptr, nullptr, &out, nullptr, &status, &error);
        g_strfreev(env);
        if (!ok) {
            ADD_FAILURE() << argv[0] << ": " << error->message;
            g_error_free(error);
            return -1;
        }
        output = out ? out : "";
        g_free(out);
        return g_spawn_check_wait_status(status, nullptr) ? 0 : 1;
    }

    const std::filesystem::path kPlugin{PORCHLIGHT_MASK_PLUGIN};
    std::filesystem::path tmp_;
};

// A sanitizer build's plugin needs the sanitizer's runtime in the process
// that loads it; gst-inspect-1.0 and gst-launch-1.0 are not built with it, so
// they cannot load it (in-process, the tests above run its code under it).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif
#else
constexpr bool kSanitizerBuild = false;
#endif

TEST_F(MaskPluginTest, GstInspectListsThePolygonsProperty) {
    if (kSanitizerBuild)
        GTEST_SKIP() << "a sanitizer build's plugin does not load into gst-inspect-1.0";
    std::string out;
    const int rc = tool({"gst-inspect-1.0", "plmask"}, out);
    if (rc < 0)
        GTEST_SKIP() << "gst-inspect-1.0 not installed";
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("Porchlight privacy mask"), std::string::npos) << out;
    EXPECT_NE(out.find("polygons"), std::string::npos) << out;
    EXPECT_NE(out.find(kPlugin.filename().string()), std::string::npos) << out;
    EXPECT_NE(out.find("https://porchlight.invalid"), std::string::npos) << out;
}

TEST_F(MaskPluginTest, GstLaunchRunsAPipelineWithIt) {
    if (kSanitizerBuild)
        GTEST_SKIP() << "a sanitizer build's plugin does not load into gst-launch-1.0";
    std::string out;
    const int rc =
        tool({"gst-launch-1.0", "-q", "videotestsrc", "num-buffers=3", "!",
              "video/x-raw,format=NV12", "!", "plmask",
              "polygons=0.1,0.1 0.5,0.1 0.5,0.4; 0.6,0.6 0.9,0.6 0.9,0.9 0.6,0.9", "!", "fakesink"},
             out);
    if (rc < 0)
        GTEST_SKIP() << "gst-launch-1.0 not installed";
    EXPECT_EQ(rc, 0) << out;
}

}  // namespace
