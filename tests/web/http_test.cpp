// The web server from a client's side: static files and their headers, the
// /api/ hand-over, limits, path traversal and TLS, all on 127.0.0.1.
#include "http_server.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include <openssl/x509v3.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "config.h"
#include "tls.h"

namespace porchlight::web {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class FakeApi : public Handler {
public:
    void handle(const Request& request, std::function<void(Response)> respond) override {
        std::shared_ptr<BodySource> stream;
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(request);
            stream = stream_;
        }
        if (stream) {
            Response r;
            r.contentType = "video/mp4";
            r.stream = stream;
            r.streamLength = streamLength_;
            return respond(std::move(r));
        }
        Response r;
        r.body = "{\"ok\": true}";
        respond(std::move(r));
    }
    std::vector<Request> requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    /// Later /api/ requests are answered with this streamed body.
    void answerWith(std::shared_ptr<BodySource> stream, std::optional<uint64_t> length = {}) {
        std::lock_guard lock(mutex_);
        stream_ = std::move(stream);
        streamLength_ = length;
    }

private:
    std::shared_ptr<BodySource> stream_;
    std::optional<uint64_t> streamLength_;
    std::mutex mutex_;
    std::vector<Request> requests_;
};

struct Reply {
    unsigned status = 0;
    std::string head;  // status line and headers
    std::string body;
    bool hasHeader(const std::string& line) const { return head.find(line) != std::string::npos; }
};

Reply parseReply(const std::string& raw) {
    Reply r;
    size_t end = raw.find("\r\n\r\n");
    r.head = raw.substr(0, end);
    if (end != std::string::npos)
        r.body = raw.substr(end + 4);
    if (raw.size() > 12)
        r.status = static_cast<unsigned>(std::stoi(raw.substr(9, 3)));
    return r;
}

class WebServer : public ::testing::Test {
protected:
    void SetUp() override {
        std::string templ = ::testing::TempDir() + "/porchlight-web-XXXXXX";
        ASSERT_NE(::mkdtemp(templ.data()), nullptr);
        dir_ = templ;
        std::filesystem::create_directories(dir_ / "www");
        std::filesystem::create_directories(dir_ / "state");
        std::ofstream(dir_ / "www/index.html") << "<!doctype html><title>Porchlight</title>";
        std::ofstream(dir_ / "www/app.js") << "export {};";
        std::ofstream(dir_ / "secret.txt") << "outside-the-www-dir";
    }
    void TearDown() override {
        stop();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    /// Starts the server and runs the loop on a second thread.
    Expected<void> start(std::vector<std::string> listen, bool plain = false) {
        WebConfig config;
        config.listen = std::move(listen);
        config.plainHttp = plain;
        auto s = HttpServer::start(io_, config, dir_ / "state", dir_ / "www", api_);
        if (!s)
            return s.error();
        server_ = std::move(*s);
        port_ = server_->ports().at(0);
        guard_.emplace(io_.get_executor());
        thread_ = std::thread([this] { io_.run(); });
        return {};
    }
    void stop() {
        if (thread_.joinable()) {
            guard_.reset();
            asio::post(io_, [this] { server_.reset(); });
            thread_.join();
        }
        server_.reset();
    }

    /// Sends \a raw and reads until the server closes.
    Reply plain(const std::string& raw) {
        asio::io_context io;
        tcp::socket socket(io);
        socket.connect({asio::ip::make_address("127.0.0.1"), port_});
        boost::system::error_code ec;
        // The server may answer (and stop reading) before all is sent.
        asio::write(socket, asio::buffer(raw), ec);
        std::string out;
        asio::read(socket, asio::dynamic_buffer(out), ec);
        return parseReply(out);
    }
    Reply get(const std::string& target, const std::string& method = "GET",
              const std::string& extra = "") {
        return plain(method + " " + target +
                     " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + "\r\n");
    }

    std::filesystem::path dir_;
    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
    std::thread thread_;
    FakeApi api_;
    std::unique_ptr<HttpServer> server_;
    uint16_t port_ = 0;
};

/// \a pieces pieces of \a size bytes ('a', 'b', ...), each made later on the
/// loop as a worker's result would be; 0 pieces: no end.
class TestSource : public BodySource {
public:
    TestSource(asio::io_context& io, int pieces, size_t size)
        : io_(io), pieces_(pieces), size_(size) {}
    void next(std::function<void(Piece)> give) override {
        ++asked;
        asio::post(io_, [this, give = std::move(give)] {
            if (cancelled)
                return;
            const int i = made++;
            give(Piece{std::string(size_, static_cast<char>('a' + i % 26)), i + 1 == pieces_,
                       false});
        });
    }
    void cancel() override { cancelled = true; }
    std::atomic<int> asked{0};
    std::atomic<int> made{0};
    std::atomic<bool> cancelled{false};

private:
    asio::io_context& io_;
    int pieces_;
    size_t size_;
};

/// Decodes a chunked body; false when it is not well-formed or not ended.
bool unchunk(const std::string& body, std::string& out) {
    size_t at = 0;
    for (;;) {
        size_t eol = body.find("\r\n", at);
        if (eol == std::string::npos)
            return false;
        const size_t n = std::stoul(body.substr(at, eol - at), nullptr, 16);
        at = eol + 2;
        if (n == 0)
            return body.substr(at) == "\r\n";
        if (at + n + 2 > body.size())
            return false;
        out += body.substr(at, n);
        at += n + 2;
    }
}

void expectSecurityHeaders(const Reply& r) {
    EXPECT_TRUE(r.hasHeader("Content-Security-Policy: default-src 'self'; script-src 'self';"))
        << r.head;
    EXPECT_TRUE(r.hasHeader("frame-ancestors 'none'")) << r.head;
    EXPECT_TRUE(r.hasHeader("X-Content-Type-Options: nosniff")) << r.head;
    EXPECT_TRUE(r.hasHeader("Referrer-Policy: no-referrer")) << r.head;
    EXPECT_TRUE(r.hasHeader("X-Frame-Options: DENY")) << r.head;
}

TEST_F(WebServer, ServesIndexWithSecurityHeaders) {
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    Reply r = get("/");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "<!doctype html><title>Porchlight</title>");
    EXPECT_TRUE(r.hasHeader("Content-Type: text/html; charset=utf-8")) << r.head;
    EXPECT_TRUE(r.hasHeader("Cache-Control: no-cache")) << r.head;
    EXPECT_TRUE(r.hasHeader("Content-Length: 40")) << r.head;
    EXPECT_FALSE(r.hasHeader("Strict-Transport-Security")) << r.head;
    expectSecurityHeaders(r);
    Reply js = get("/app.js");
    EXPECT_EQ(js.status, 200u);
    EXPECT_TRUE(js.hasHeader("Content-Type: text/javascript")) << js.head;
}

TEST_F(WebServer, HeadHasLengthButNoBody) {
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    Reply r = get("/index.html", "HEAD");
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.hasHeader("Content-Length: 40")) << r.head;
    EXPECT_EQ(r.body, "");
}

TEST_F(WebServer, UnknownIs404AndPostIs405) {
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    Reply r = get("/nothing.html");
    EXPECT_EQ(r.status, 404u);
    expectSecurityHeaders(r);
    Reply post = get("/index.html", "POST", "Content-Length: 0\r\n");
    EXPECT_EQ(post.status, 405u);
    EXPECT_TRUE(post.hasHeader("Allow: GET, HEAD"));
}

TEST_F(WebServer, PathTraversalIsRefused) {
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    for (const char* target :
         {"/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc/passwd", "/%2e%2e%5c",
          "/%252e%252e/%252e%252e/etc/passwd", "/../secret.txt", "/%2e%2e/secret.txt",
          "/..%5csecret.txt", "/index.html%00.js", "//etc/passwd", "/%2fetc/passwd", "/%zz"}) {
        Reply r = get(target);
        EXPECT_TRUE(r.status == 404 || r.status == 400) << target << ": " << r.status;
        EXPECT_EQ(r.body.find("root:"), std::string::npos) << target;
        EXPECT_EQ(r.body.find("outside-the-www-dir"), std::string::npos) << target;
    }
}

TEST_F(WebServer, SymlinkOutOfWwwIsRefused) {
    std::filesystem::create_symlink(dir_ / "secret.txt", dir_ / "www/link.txt");
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    EXPECT_EQ(get("/link.txt").status, 404u);
}

TEST_F(WebServer, ApiGoesToTheHandler) {
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    Reply r = plain(
        "POST /api/things/%41b?x=1&name=a%20b+c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
        "X-Custom: Yes\r\nContent-Length: 5\r\n\r\nhello");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "{\"ok\": true}");
    EXPECT_TRUE(r.hasHeader("Content-Type: application/json")) << r.head;
    EXPECT_TRUE(r.hasHeader("Cache-Control: no-store")) << r.head;
    expectSecurityHeaders(r);
    auto requests = api_.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].method, "POST");
    EXPECT_EQ(requests[0].path, "/api/things/Ab");
    EXPECT_EQ(requests[0].query,
              (std::map<std::string, std::string>{{"x", "1"}, {"name", "a b c"}}));
    EXPECT_EQ(requests[0].headers.at("x-custom"), "Yes");
    EXPECT_EQ(requests[0].body, "hello");
    EXPECT_EQ(requests[0].clientAddress, "127.0.0.1");
    EXPECT_FALSE(requests[0].secure);
}

TEST_F(WebServer, KeepAliveServesSeveralRequests) {
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    Reply r = plain(
        "GET /api/a HTTP/1.1\r\nHost: h\r\n\r\nGET /index.html HTTP/1.1\r\nHost: h\r\n"
        "Connection: close\r\n\r\n");
    EXPECT_EQ(r.status, 200u);
    EXPECT_NE(r.body.find("<title>Porchlight</title>"), std::string::npos) << r.body;
}

TEST_F(WebServer, OversizedAndMalformedRequests) {
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    Reply big = get("/", "GET", "X-Big: " + std::string(9000, 'a') + "\r\n");
    EXPECT_TRUE(big.status == 431 || big.status == 400) << big.status;
    Reply body = plain("POST /api/x HTTP/1.1\r\nHost: h\r\nContent-Length: 70000\r\n\r\n" +
                       std::string(70000, 'b'));
    EXPECT_EQ(body.status, 413u);
    EXPECT_NE(body.body.find("\"error\""), std::string::npos) << body.body;
    EXPECT_TRUE(body.hasHeader("Content-Type: application/json")) << body.head;
    // Told by Content-Length before the body is sent, and without a length.
    EXPECT_EQ(plain("POST /api/x HTTP/1.1\r\nHost: h\r\nContent-Length: 65537\r\n\r\n").status,
              413u);
    Reply chunked = plain(
        "POST /api/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "11170\r\n" +
        std::string(70000, 'c') + "\r\n0\r\n\r\n");
    EXPECT_EQ(chunked.status, 413u);
    EXPECT_EQ(plain("GARBAGE\r\n\r\n").status, 400u);
    EXPECT_EQ(plain("GET nopath HTTP/1.1\r\nHost: h\r\n\r\n").status, 400u);
    EXPECT_EQ(api_.requests().size(), 0u);
}

TEST_F(WebServer, NonLoopbackPlainHttpIsAStartError) {
    auto r = start({"http://0.0.0.0:0"});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("plain HTTP is allowed only on loopback"), std::string::npos)
        << r.error().message;
}

/// The subjectAltName entries of the PEM certificate at \a path, as text.
std::vector<std::string> altNames(const std::filesystem::path& path) {
    std::vector<std::string> out;
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f)
        return out;
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (!cert)
        return out;
    auto* names =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
        GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
        if (n->type == GEN_DNS) {
            out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)));
        } else if (n->type == GEN_IPADD) {
            const unsigned char* b = ASN1_STRING_get0_data(n->d.iPAddress);
            int len = ASN1_STRING_length(n->d.iPAddress);
            if (len == 4)
                out.push_back(asio::ip::address_v4({b[0], b[1], b[2], b[3]}).to_string());
            else if (len == 16) {
                asio::ip::address_v6::bytes_type bytes;
                std::copy(b, b + 16, bytes.begin());
                out.push_back(asio::ip::address_v6(bytes).to_string());
            }
        }
    }
    GENERAL_NAMES_free(names);
    X509_free(cert);
    return out;
}

std::string readAll(const std::filesystem::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(WebServer, TlsWithASelfSignedCertificate) {
    ASSERT_TRUE(start({"127.0.0.1:0"}));
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_verify_mode(asio::ssl::verify_none);
    asio::ssl::stream<tcp::socket> stream(io, ctx);
    stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), port_});
    stream.handshake(asio::ssl::stream_base::client);
    std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    asio::write(stream, asio::buffer(request));
    std::string out;
    boost::system::error_code ec;
    asio::read(stream, asio::dynamic_buffer(out), ec);
    Reply r = parseReply(out);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "<!doctype html><title>Porchlight</title>");
    EXPECT_TRUE(r.hasHeader("Strict-Transport-Security: max-age=")) << r.head;
    expectSecurityHeaders(r);

    std::filesystem::path cert = dir_ / "state/web/cert.pem";
    std::filesystem::path key = dir_ / "state/web/key.pem";
    auto perms = std::filesystem::status(key).permissions();
    EXPECT_EQ(perms & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    EXPECT_EQ(
        std::filesystem::status(dir_ / "state/web").permissions() & std::filesystem::perms::all,
        std::filesystem::perms::owner_all);
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    auto names = altNames(cert);
    EXPECT_NE(std::find(names.begin(), names.end(), "127.0.0.1"), names.end());
    EXPECT_NE(std::find(names.begin(), names.end(), "::1"), names.end());
    EXPECT_NE(std::find(names.begin(), names.end(), std::string(host)), names.end());
    EXPECT_NE(std::find(names.begin(), names.end(), std::string(host) + ".local"), names.end());

    // A second start keeps the certificate browsers were told to trust.
    std::string first = readAll(cert);
    stop();
    ASSERT_TRUE(start({"127.0.0.1:0"}));
    EXPECT_EQ(readAll(cert), first);
}

TEST_F(WebServer, OwnerCertificateReplacesTheGeneratedOne) {
    ASSERT_TRUE(generateSelfSigned(dir_ / "own.pem", dir_ / "own.key", "door.example"));
    WebConfig config;
    config.listen = {"127.0.0.1:0"};
    config.certificate = (dir_ / "own.pem").string();
    config.key = (dir_ / "own.key").string();
    auto files = ensureCertificate(config, dir_ / "state");
    ASSERT_TRUE(files) << files.error().message;
    EXPECT_EQ(files->certificate, dir_ / "own.pem");
    EXPECT_FALSE(std::filesystem::exists(dir_ / "state/web/cert.pem"));
    EXPECT_TRUE(makeServerContext(*files));

    config.certificate = "/nonexistent/cert.pem";
    auto missing = ensureCertificate(config, dir_ / "state");
    ASSERT_FALSE(missing);
    EXPECT_EQ(
        missing.error().message.rfind("cannot read [web] certificate /nonexistent/cert.pem", 0), 0u)
        << missing.error().message;
}

TEST_F(WebServer, StreamedBodyIsChunkedPieceByPiece) {
    auto source = std::make_shared<TestSource>(io_, 3, 5);
    api_.answerWith(source);
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    Reply r = get("/api/playback");
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.hasHeader("Transfer-Encoding: chunked")) << r.head;
    EXPECT_TRUE(r.hasHeader("Content-Type: video/mp4")) << r.head;
    EXPECT_TRUE(r.hasHeader("Cache-Control: no-store")) << r.head;
    expectSecurityHeaders(r);
    std::string body;
    EXPECT_TRUE(unchunk(r.body, body)) << r.body;
    EXPECT_EQ(body, "aaaaabbbbbccccc");
    EXPECT_EQ(source->asked.load(), 3);
}

TEST_F(WebServer, StreamedBodyWithALengthIsSentAsIs) {
    auto source = std::make_shared<TestSource>(io_, 4, 3);
    api_.answerWith(source, 12);
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    Reply r = get("/api/export");
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.hasHeader("Content-Length: 12")) << r.head;
    EXPECT_FALSE(r.hasHeader("chunked")) << r.head;
    EXPECT_EQ(r.body, "aaabbbcccddd");
}

TEST_F(WebServer, StreamWaitsForASlowClientAndStopsWhenItLeaves) {
    // An endless body of 64 KiB pieces, to a client that reads nothing for a while.
    auto source = std::make_shared<TestSource>(io_, 0, 64 * 1024);
    api_.answerWith(source);
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port_});
    asio::write(socket,
                asio::buffer(std::string("GET /api/playback HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")));
    // Back-pressure: with nothing read, production stops once the socket's
    // buffers are full (a few MB at most) instead of filling memory. Wait
    // until it has stopped (a busy machine may be slow to get there).
    int whileStalled = -1;
    for (int i = 0, last = -1; i < 100 && whileStalled < 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        const int now = source->asked.load();
        if (now == last && now > 0)
            whileStalled = now;
        last = now;
    }
    ASSERT_GT(whileStalled, 0) << "production never stopped while the client read nothing";
    EXPECT_LT(int64_t(whileStalled) * 64 * 1024, int64_t(64) * 1024 * 1024);
    // Reading lets it go on: more bytes than were made before the stall
    // arrive only if more pieces were made.
    std::vector<char> buf(1 << 20);
    size_t got = 0;
    while (got < size_t(whileStalled) * 64 * 1024 + (1 << 20))
        got += socket.read_some(asio::buffer(buf));
    EXPECT_GT(source->asked.load(), whileStalled);
    EXPECT_FALSE(source->cancelled.load());
    // The client goes away: the source is cancelled.
    socket.close();
    for (int i = 0; i < 1000 && !source->cancelled.load(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_TRUE(source->cancelled.load());
}

TEST_F(WebServer, AFailedStreamCutsTheConnection) {
    class Failing : public BodySource {
    public:
        void next(std::function<void(Piece)> give) override { give(Piece{"", false, ++calls > 1}); }
        void cancel() override {}
        int calls = 0;
    };
    // The first piece is empty (skipped), the second fails: the client sees
    // the body end without its last chunk.
    api_.answerWith(std::make_shared<Failing>());
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    Reply r = get("/api/playback");
    EXPECT_EQ(r.status, 200u);
    std::string body;
    EXPECT_FALSE(unchunk(r.body, body)) << "an incomplete body looked complete";
}

// Found by the soak test: stopping the server while a streamed answer waited
// for its producer crashed after "stopped". Cancelling the producer dropped the
// callback it held, and with it the last reference to the connection, in the
// middle of the connection's close(): a use after free (MALLOC_PERTURB_, which
// meson sets, or ASan turn it into a crash here).
TEST_F(WebServer, StoppingWhileAStreamWaitsForItsProducer) {
    class Holding : public BodySource {
    public:
        void next(std::function<void(Piece)> give) override {
            std::lock_guard lock(mutex_);
            pending_ = std::move(give);
            ++asked;
        }
        void cancel() override {
            std::function<void(Piece)> dropped;
            {
                std::lock_guard lock(mutex_);
                dropped = std::move(pending_);
                pending_ = nullptr;
            }
            cancelled = true;
            // `dropped` ends here, and with it the connection it kept alive.
        }
        std::atomic<int> asked{0};
        std::atomic<bool> cancelled{false};

    private:
        std::mutex mutex_;
        std::function<void(Piece)> pending_;
    };
    auto source = std::make_shared<Holding>();
    api_.answerWith(source);
    ASSERT_TRUE(start({"http://127.0.0.1:0"}));
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port_});
    asio::write(socket,
                asio::buffer(std::string("GET /api/playback HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")));
    for (int i = 0; i < 1000 && source->asked.load() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_EQ(source->asked.load(), 1) << "the answer's body was never asked for";
    stop();
    EXPECT_TRUE(source->cancelled.load());
    // The client sees the head, then the connection closed without the body's end.
    std::string raw;
    boost::system::error_code ec;
    asio::read(socket, asio::dynamic_buffer(raw), ec);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
    Reply r = parseReply(raw);
    EXPECT_EQ(r.status, 200u);
    std::string body;
    EXPECT_FALSE(unchunk(r.body, body));
}

// Found by fuzz_http: "GET /api/%ff" put the decoded byte into a JSON
// answer as it was, and the answer no longer parsed (JSON is UTF-8).
TEST(JsonString, BytesThatAreNotUtf8BecomeReplacementCharacters) {
    EXPECT_EQ(jsonString("/api/\xff"), "\"/api/\\ufffd\"");
    EXPECT_EQ(jsonString("a\xc3"), "\"a\\ufffd\"");                      // cut short
    EXPECT_EQ(jsonString("\xc0\xaf"), "\"\\ufffd\\ufffd\"");             // overlong "/"
    EXPECT_EQ(jsonString("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
    // Well-formed UTF-8 passes through untouched.
    EXPECT_EQ(jsonString("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x94"),
              "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x94\"");
    EXPECT_EQ(jsonError(404, "no such API route: /api/\xff").body,
              "{\"error\": \"no such API route: /api/\\ufffd\"}");
}

}  // namespace
}  // namespace porchlight::web
