// porchlightd on D-Bus, checked from outside: a private dbus-daemon, the real
// daemon, and independent clients (sd-bus here, gdbus and busctl as
// programs). Also sd_notify (READY=1, WATCHDOG=1) on a socket the test
// listens on, and the system bus policy loaded into a real dbus-daemon.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-bus.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "process.h"

using namespace std::chrono_literals;
using porchlight::test::Process;
namespace fs = std::filesystem;

namespace {

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    while (p && fgets(buf, sizeof buf, p))
        out += buf;
    if (p)
        pclose(p);
    return out;
}

/// Members of each interface in an introspection document: "iface.member:type".
std::set<std::string> members(const std::string& xml, const std::string& prefix) {
    std::set<std::string> out;
    std::regex memberRe("<(method|signal|property) name=\"([^\"]+)\"( type=\"([^\"]+)\")?");
    std::regex argRe("<arg ([^>]*)/?>");
    auto attr = [](const std::string& tag, const std::string& name) {
        std::smatch m;
        std::regex re(name + "=\"([^\"]*)\"");
        return std::regex_search(tag, m, re) ? m[1].str() : std::string();
    };
    // Interfaces are found with find(), not a regex: libstdc++'s regex
    // recurses once per character of a lazy "[\s\S]*?", and an interface's
    // body overflowed the stack of the ASan build (-O0, big frames).
    const std::string open = "<interface name=\"", close = "</interface>";
    for (size_t at = xml.find(open); at != std::string::npos; at = xml.find(open, at)) {
        const size_t nameStart = at + open.size();
        const size_t nameEnd = xml.find("\">", nameStart);
        const size_t end = nameEnd == std::string::npos ? nameEnd : xml.find(close, nameEnd);
        if (end == std::string::npos)
            break;
        at = end + close.size();
        const std::string iface = xml.substr(nameStart, nameEnd - nameStart);
        if (iface.rfind(prefix, 0) != 0)
            continue;
        const std::string body = xml.substr(nameEnd + 2, end - nameEnd - 2);
        // Split the body by member so args belong to theirs.
        std::regex split("<(method|signal|property) ");
        std::vector<size_t> starts;
        for (auto m = std::sregex_iterator(body.begin(), body.end(), split);
             m != std::sregex_iterator(); ++m)
            starts.push_back(static_cast<size_t>(m->position()));
        starts.push_back(body.size());
        for (size_t i = 0; i + 1 < starts.size(); ++i) {
            const std::string part = body.substr(starts[i], starts[i + 1] - starts[i]);
            std::smatch m;
            if (!std::regex_search(part, m, memberRe))
                continue;
            std::string sig = m[1].str() + " " + iface + "." + m[2].str() + ":" + m[4].str();
            for (auto a = std::sregex_iterator(part.begin(), part.end(), argRe);
                 a != std::sregex_iterator(); ++a) {
                const std::string tag = (*a)[1];
                std::string dir = attr(tag, "direction");
                if (dir.empty() && m[1] == "method")
                    dir = "in";  // the default for methods
                sig += " " + attr(tag, "name") + "/" + attr(tag, "type") + "/" + dir;
            }
            out.insert(sig);
        }
    }
    return out;
}

class DbusTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = ::testing::TempDir() + "pl-dbus-XXXXXX";
        ASSERT_NE(mkdtemp(dir_.data()), nullptr);
        bus_ = std::make_unique<Process>(
            std::vector<std::string>{"/usr/bin/dbus-daemon", "--session", "--nofork", "--nopidfile",
                                     "--print-address=1"},
            dir_ + "/bus.log");
        ASSERT_TRUE(bus_->waitForOutput("unix:", 10s)) << bus_->output();
        address_ = bus_->output().substr(bus_->output().find("unix:"));
        address_ = address_.substr(0, address_.find('\n'));

        // sd_notify's socket, as systemd would give it.
        notify_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(notify_, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        notifyPath_ = dir_ + "/notify";
        std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", notifyPath_.c_str());
        ASSERT_EQ(::bind(notify_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        timeval tv{0, 100'000};
        setsockopt(notify_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        // Read notifications all the time, as systemd does: a unix datagram
        // socket holds only a few, and then the sender's sd_notify blocks.
        reader_ = std::thread([this] {
            char buf[4096];
            while (!stop_) {
                ssize_t n = ::recv(notify_, buf, sizeof buf, 0);
                if (n > 0) {
                    std::lock_guard lock(mutex_);
                    received_ += std::string(buf, static_cast<size_t>(n)) + "\n--\n";
                }
            }
        });

        writeConfig(camera("door") + camera("yard"));
    }
    void TearDown() override {
        if (daemon_) {
            daemon_->signal(SIGTERM);
            daemon_->wait(10s);
        }
        if (client_)
            sd_bus_flush_close_unref(client_);
        stop_ = true;
        reader_.join();
        ::close(notify_);
        bus_.reset();
        fs::remove_all(dir_);
    }
    static std::string camera(const std::string& id, const std::string& extra = "") {
        return "[[camera]]\nid = \"" + id +
               "\"\nsource = \"test\"\nwidth = 320\nheight = 240\nframerate = 10\n" + extra + "\n";
    }
    // Tests serve only on loopback, on a port of their own (0: any free one).
    void writeConfig(const std::string& text) {
        std::ofstream(dir_ + "/p.toml") << text << "\n[web]\nlisten = [\"http://127.0.0.1:0\"]\n";
    }

    void startDaemon(const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args{env("PORCHLIGHTD"), "--bus",       "session",      "--config",
                                      dir_ + "/p.toml",   "--state-dir", dir_ + "/state"};
        args.insert(args.end(), extra.begin(), extra.end());
        daemon_ = std::make_unique<Process>(
            args, dir_ + "/daemon.log",
            std::vector<std::string>{"DBUS_SESSION_BUS_ADDRESS=" + address_,
                                     "NOTIFY_SOCKET=" + notifyPath_, "WATCHDOG_USEC=300000",
                                     "PORCHLIGHT_LOG=info"});
        ASSERT_TRUE(daemon_->waitForOutput("serving org.porchlight.Nvr1", 15s))
            << daemon_->output();
    }
    sd_bus* client() {
        if (!client_) {
            EXPECT_GE(sd_bus_new(&client_), 0);
            sd_bus_set_address(client_, address_.c_str());
            sd_bus_set_bus_client(client_, 1);
            EXPECT_GE(sd_bus_start(client_), 0);
        }
        return client_;
    }
    /// Pump the client until \a done or the deadline.
    bool pump(const std::function<bool()>& done, std::chrono::milliseconds deadline = 10s) {
        const auto end = std::chrono::steady_clock::now() + deadline;
        while (!done()) {
            if (std::chrono::steady_clock::now() > end)
                return false;
            int r = sd_bus_process(client(), nullptr);
            if (r == 0)
                sd_bus_wait(client(), 50'000);
        }
        return true;
    }
    /// What arrived on the notify socket during the next \a over.
    std::string notifications(std::chrono::milliseconds over) {
        {
            std::lock_guard lock(mutex_);
            received_.clear();
        }
        std::this_thread::sleep_for(over);
        std::lock_guard lock(mutex_);
        return received_;
    }
    std::string busctl(const std::string& args) {
        return run("DBUS_SESSION_BUS_ADDRESS='" + address_ + "' busctl --user " + args + " 2>&1");
    }

    std::string dir_, address_, notifyPath_;
    int notify_ = -1;
    std::thread reader_;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::string received_;
    std::unique_ptr<Process> bus_, daemon_;
    sd_bus* client_ = nullptr;
};

TEST_F(DbusTest, ReadyThenWatchdogFromTheLoop) {
    std::string n;
    {
        std::lock_guard lock(mutex_);
        received_.clear();
    }
    startDaemon();
    std::this_thread::sleep_for(1500ms);
    {
        std::lock_guard lock(mutex_);
        n = received_;
    }
    const size_t ready = n.find("READY=1");
    ASSERT_NE(ready, std::string::npos) << n;
    EXPECT_NE(n.find("STATUS="), std::string::npos);
    // 300 ms watchdog, petted every 150 ms: several in 1.5 s.
    size_t pets = 0;
    for (size_t p = n.find("WATCHDOG=1"); p != std::string::npos; p = n.find("WATCHDOG=1", p + 1))
        ++pets;
    EXPECT_GE(pets, 5u) << n;
    {
        std::lock_guard lock(mutex_);
        received_.clear();
    }
    daemon_->signal(SIGTERM);
    EXPECT_EQ(daemon_->wait(10s), 0);
    std::lock_guard lock(mutex_);
    EXPECT_NE(received_.find("STOPPING=1"), std::string::npos) << received_;
    daemon_.reset();
}

TEST_F(DbusTest, IntrospectionMatchesTheInterfaceXml) {
    startDaemon();
    std::ifstream in(env("DBUS_XML"));
    std::stringstream ss;
    ss << in.rdbuf();
    const auto expected = members(ss.str(), "org.porchlight.");
    ASSERT_GT(expected.size(), 30u);

    // gdbus: an independent client.
    const std::string manager = run("DBUS_SESSION_BUS_ADDRESS='" + address_ +
                                    "' gdbus introspect --session --dest org.porchlight.Nvr1 "
                                    "--object-path /org/porchlight/Nvr1 --xml");
    const std::string camera = run("DBUS_SESSION_BUS_ADDRESS='" + address_ +
                                   "' gdbus introspect --session --dest org.porchlight.Nvr1 "
                                   "--object-path /org/porchlight/Nvr1/camera/door --xml");
    auto actual = members(manager, "org.porchlight.");
    for (const auto& m : members(camera, "org.porchlight."))
        actual.insert(m);
    EXPECT_EQ(actual, expected);
    EXPECT_NE(manager.find("<node name=\"camera\"/>"), std::string::npos) << manager;
}

TEST_F(DbusTest, ManagedObjectsAndPropertiesThroughBusctl) {
    startDaemon();
    ASSERT_TRUE(daemon_->waitForOutput("camera: yard: streaming", 15s));
    const std::string objects = busctl(
        "call org.porchlight.Nvr1 /org/porchlight/Nvr1 org.freedesktop.DBus.ObjectManager "
        "GetManagedObjects");
    EXPECT_NE(objects.find("/org/porchlight/Nvr1/camera/door"), std::string::npos) << objects;
    EXPECT_NE(objects.find("/org/porchlight/Nvr1/camera/yard"), std::string::npos);
    EXPECT_EQ(busctl("get-property org.porchlight.Nvr1 /org/porchlight/Nvr1 "
                     "org.porchlight.Nvr1.Manager Cameras Version State OwnerConfigured"),
              "u 2\ns \"0.1.0\"\nu 2\nb false\n");
    EXPECT_EQ(busctl("get-property org.porchlight.Nvr1 /org/porchlight/Nvr1/camera/yard "
                     "org.porchlight.Nvr1.Camera Id State Width Height"),
              "s \"yard\"\nu 1\nu 320\nu 240\n");
    // Every property of both interfaces is readable.
    EXPECT_EQ(
        busctl("introspect org.porchlight.Nvr1 /org/porchlight/Nvr1/camera/yard").find("Failed"),
        std::string::npos);
}

int onSignal(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* seen = static_cast<std::vector<std::string>*>(userdata);
    std::string what = std::string(sd_bus_message_get_member(m)) + " " + sd_bus_message_get_path(m);
    if (!std::strcmp(sd_bus_message_get_member(m), "PropertiesChanged")) {
        const char* iface = nullptr;
        sd_bus_message_read(m, "s", &iface);
        what += std::string(" ") + iface + ":";
        sd_bus_message_enter_container(m, 'a', "{sv}");
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
            const char* name = nullptr;
            sd_bus_message_read(m, "s", &name);
            what += std::string(" ") + name;
            sd_bus_message_skip(m, "v");
            sd_bus_message_exit_container(m);
        }
    }
    seen->push_back(what);
    return 0;
}

bool seenWith(const std::vector<std::string>& seen, const std::string& a, const std::string& b) {
    for (const auto& s : seen)
        if (s.find(a) != std::string::npos && s.find(b) != std::string::npos)
            return true;
    return false;
}

TEST_F(DbusTest, ChangesAreSignalled) {
    writeConfig(camera("door") +
                "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = "
                "\"rtsp://127.0.0.1:1/none\"\n");
    startDaemon();
    std::vector<std::string> seen;
    sd_bus_slot* slot = nullptr;
    ASSERT_GE(sd_bus_add_match(client(), &slot,
                               "type='signal',sender='org.porchlight.Nvr1',path_namespace='/org/"
                               "porchlight/Nvr1'",
                               onSignal, &seen),
              0);

    // A camera that cannot connect changes state (starting -> retrying) on its own.
    ASSERT_TRUE(pump([&] {
        return seenWith(seen, "PropertiesChanged /org/porchlight/Nvr1/camera/gate", " State");
    })) << daemon_->output();

    // Retention set over the bus: takes effect, is announced, and persists.
    EXPECT_EQ(busctl("call org.porchlight.Nvr1 /org/porchlight/Nvr1 org.porchlight.Nvr1.Manager "
                     "SetRetention 'sa{sv}' door 2 max_days d 2.5 max_bytes t 1000000000"),
              "");
    ASSERT_TRUE(pump([&] {
        return seenWith(seen, "PropertiesChanged /org/porchlight/Nvr1/camera/door",
                        "RetentionMaxDays");
    }));
    EXPECT_EQ(busctl("call org.porchlight.Nvr1 /org/porchlight/Nvr1 org.porchlight.Nvr1.Manager "
                     "GetRetention s door"),
              "a{sv} 3 \"max_days\" d 2.5 \"max_bytes\" t 1000000000 \"source\" s \"owner\"\n");

    // Counters tick at most once a second.
    seen.clear();
    pump([] { return false; }, 2500ms);
    int frameUpdates = 0;
    for (const auto& s : seen)
        if (s.find("camera/door") != std::string::npos &&
            s.find("FramesTotal") != std::string::npos)
            ++frameUpdates;
    EXPECT_GE(frameUpdates, 1);
    EXPECT_LE(frameUpdates, 3);

    // A ring: the Event signal and LastRing.
    EXPECT_EQ(busctl("call org.porchlight.Nvr1 /org/porchlight/Nvr1 org.porchlight.Nvr1.Manager "
                     "Ring s door"),
              "");
    ASSERT_TRUE(pump([&] { return seenWith(seen, "Event /org/porchlight/Nvr1", ""); }));
    ASSERT_TRUE(pump([&] { return seenWith(seen, "camera/door", "LastRing"); }));

    // Reload: gate goes, porch comes.
    writeConfig(camera("door") + camera("porch"));
    EXPECT_EQ(busctl("call org.porchlight.Nvr1 /org/porchlight/Nvr1 org.porchlight.Nvr1.Manager "
                     "Reload"),
              "");
    ASSERT_TRUE(pump([&] {
        return seenWith(seen, "InterfacesRemoved", "") && seenWith(seen, "InterfacesAdded", "");
    })) << daemon_->output();
    sd_bus_slot_unref(slot);

    // And after a restart the owner's retention is still there.
    daemon_->signal(SIGTERM);
    ASSERT_EQ(daemon_->wait(10s), 0);
    startDaemon();
    EXPECT_EQ(busctl("get-property org.porchlight.Nvr1 /org/porchlight/Nvr1/camera/door "
                     "org.porchlight.Nvr1.Camera RetentionMaxDays"),
              "d 2.5\n");
}

TEST_F(DbusTest, InvalidArgumentsGetTheRightErrors) {
    startDaemon();
    auto call = [&](const std::string& args) {
        return busctl("call org.porchlight.Nvr1 /org/porchlight/Nvr1 org.porchlight.Nvr1.Manager " +
                      args);
    };
    EXPECT_NE(call("SetRetention 'sa{sv}' door 1 max_days d 0.0").find(""), std::string::npos);
    EXPECT_EQ(call("SetRetention 'sa{sv}' door 1 max_days d 9999"),
              "Call failed: invalid retention: max_days must be > 0 and at most 3650 (0 removes "
              "the limit), got 9999\n");
    EXPECT_EQ(call("SetRetention 'sa{sv}' door 1 max_days s two"),
              "Call failed: max_days must be a double (d), not \"s\"\n");
    EXPECT_EQ(call("SetRetention 'sa{sv}' door 1 keep_forever b true"),
              "Call failed: unknown retention setting \"keep_forever\" (allowed: max_days, "
              "max_bytes)\n");
    EXPECT_EQ(call("GetRetention s garage"),
              "Call failed: no camera \"garage\" (configured: door, yard)\n");
    EXPECT_EQ(call("ListRecordings sxx door 10 5"),
              "Call failed: the range is empty: \"to\" must be after \"from\" (µs since the "
              "epoch)\n");
    EXPECT_EQ(call("ListRecordings sxx door 0 9000000000000000"), "a(stxxtub) 0\n");

    // The error names, through sd-bus.
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    EXPECT_LT(
        sd_bus_call_method(client(), "org.porchlight.Nvr1", "/org/porchlight/Nvr1",
                           "org.porchlight.Nvr1.Manager", "Ring", &error, &reply, "s", "garage"),
        0);
    EXPECT_STREQ(error.name, "org.porchlight.Nvr1.Error.NoSuchCamera");
    sd_bus_error_free(&error);
    EXPECT_LT(sd_bus_call_method(client(), "org.porchlight.Nvr1", "/org/porchlight/Nvr1",
                                 "org.porchlight.Nvr1.Manager", "SetRetention", &error, &reply,
                                 "sa{sv}", "door", 1, "max_bytes", "t", uint64_t{10}),
              0);
    EXPECT_STREQ(error.name, "org.freedesktop.DBus.Error.InvalidArgs");
    sd_bus_error_free(&error);
    // Root may read the setup code while there is no owner.
    EXPECT_EQ(std::regex_match(call("GetSetupCode"), std::regex("s \"[0-9]{5}-[0-9]{5}\"\n")),
              true);
}

/// Numbers of a busctl reply line, in order ("a(stxxtub) 1 \"door\" 1 5 9 ..." -> 1 1 5 9 ...).
std::vector<long long> numbers(const std::string& reply) {
    std::vector<long long> out;
    std::regex re("(^| )(-?[0-9]+)(?= |$|\n)");
    for (auto it = std::sregex_iterator(reply.begin(), reply.end(), re);
         it != std::sregex_iterator(); ++it)
        out.push_back(std::stoll((*it)[2]));
    return out;
}

TEST_F(DbusTest, ARingInEventsModeRecordsItsClipAndNothingElse) {
    writeConfig("[storage]\nsegment_seconds = 10\n\n" +
                camera("door",
                       "mode = \"events\"\npre_roll_seconds = 5\npost_roll_seconds = 4\n"
                       "[camera.doorbell]\nchip = \"gpiochip77\"\nline = 3\n"));
    startDaemon({"--demo"});
    ASSERT_TRUE(daemon_->waitForOutput("camera: door: streaming", 15s)) << daemon_->output();
    // A missing GPIO chip is this camera's doorbell problem only.
    const std::string doorbell = busctl(
        "get-property org.porchlight.Nvr1 /org/porchlight/Nvr1/camera/door "
        "org.porchlight.Nvr1.Camera DoorbellError State");
    EXPECT_NE(doorbell.find("gpiochip77 does not exist"), std::string::npos) << doorbell;
    EXPECT_NE(doorbell.find("u 1"), std::string::npos) << "the camera streams anyway";

    std::this_thread::sleep_for(7s);  // more than the pre-roll, all of it in memory only
    const auto list = [&](const std::string& what) {
        return busctl("call org.porchlight.Nvr1 /org/porchlight/Nvr1 org.porchlight.Nvr1.Manager " +
                      what + " sxx door 0 9000000000000000");
    };
    EXPECT_EQ(list("ListRecordings"), "a(stxxtub) 0\n") << "written before any event";
    const auto recording = [&] {
        return busctl(
            "get-property org.porchlight.Nvr1 /org/porchlight/Nvr1/camera/door "
            "org.porchlight.Nvr1.Camera Recording");
    };
    EXPECT_EQ(recording(), "b false\n") << "not recording between events";
    EXPECT_EQ(busctl("call org.porchlight.Nvr1 /org/porchlight/Nvr1 org.porchlight.Nvr1.Manager "
                     "Ring s door"),
              "");
    bool during = false;
    for (int i = 0; i < 40 && !during; ++i) {
        during = recording() == "b true\n";
        if (!during)
            std::this_thread::sleep_for(50ms);
    }
    EXPECT_TRUE(during) << "Recording during the event's window";
    std::this_thread::sleep_for(6500ms);  // the post-roll, and the segment closing after it
    EXPECT_EQ(recording(), "b false\n") << "not recording after the post-roll";

    const auto events = numbers(list("ListEvents"));  // count, id, start, end
    ASSERT_EQ(events.size(), 4u) << list("ListEvents");
    EXPECT_EQ(events[0], 1);
    const long long ring = events[2];
    // count, then per recording: sequence, start, end, bytes, state. The clip
    // may span a segment boundary; together the pieces cover it, and nothing else.
    const auto recordings = numbers(list("ListRecordings"));
    ASSERT_GE(recordings.size(), 6u) << list("ListRecordings");
    const size_t n = static_cast<size_t>(recordings[0]);
    ASSERT_EQ(recordings.size(), 1 + 5 * n);
    const long long first = recordings[2], last = recordings[5 * n - 2];
    EXPECT_LE(first, ring - 5'000'000) << "pre-roll of at least 5 s";
    EXPECT_GE(first, ring - 7'500'000) << "no more than back to a keyframe before it";
    EXPECT_GE(last, ring + 4'000'000) << "post-roll of 4 s";
    EXPECT_LE(last, ring + 4'500'000) << "and no more";
    for (size_t i = 0; i < n; ++i)
        EXPECT_EQ(recordings[5 + 5 * i], 1) << "closed after the post-roll";
    // Protecting it, and an id that does not exist.
    EXPECT_EQ(busctl("call org.porchlight.Nvr1 /org/porchlight/Nvr1 org.porchlight.Nvr1.Manager "
                     "ProtectEvent tb " +
                     std::to_string(events[1]) + " true"),
              "");
    EXPECT_NE(list("ListEvents").find("true"), std::string::npos);
    EXPECT_EQ(busctl("call org.porchlight.Nvr1 /org/porchlight/Nvr1 org.porchlight.Nvr1.Manager "
                     "ProtectEvent tb 999 true"),
              "Call failed: no event 999\n");
}

TEST(BusPolicy, ParsesInARealDbusDaemonAndRefusesStrangers) {
    std::string dir = ::testing::TempDir() + "pl-policy-XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    // The stranger must reach the socket, so that the policy is what refuses it.
    ::chmod(dir.c_str(), 0755);
    const std::string socket = dir + "/bus";
    std::ofstream(dir + "/bus.conf")
        << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus "
           "Configuration 1.0//EN\" "
           "\"http://www.freedesktop.org/standards/dbus/1.0/"
           "busconfig.dtd\">\n<busconfig><type>system</type>"
           "<listen>unix:path="
        << socket
        << "</listen><auth>EXTERNAL</auth>"
           "<policy context=\"default\"><allow user=\"*\"/>"
           "<allow receive_sender=\"*\"/>"
           "<allow send_destination=\"*\" eavesdrop=\"true\"/>"
           "<allow own=\"*\"/></policy>"
           "<include>"
        << env("DBUS_POLICY") << "</include></busconfig>\n";
    Process bus({"/usr/bin/dbus-daemon", "--config-file=" + dir + "/bus.conf", "--nofork",
                 "--nopidfile", "--print-address=1"},
                dir + "/bus.log");
    ASSERT_TRUE(bus.waitForOutput("unix:", 10s)) << bus.output();
    ASSERT_FALSE(bus.wait(200ms).has_value()) << "the bus refused the policy: " << bus.output();

    // root owns the name (the service user would, on a device).
    std::ofstream(dir + "/web.toml") << "[web]\nlisten = [\"http://127.0.0.1:0\"]\n";
    Process owner({env("PORCHLIGHTD"), "--bus", "session", "--state-dir", dir + "/state",
                   "--config", dir + "/web.toml"},
                  dir + "/daemon.log", {"DBUS_SESSION_BUS_ADDRESS=unix:path=" + socket});
    ASSERT_TRUE(owner.waitForOutput("serving org.porchlight.Nvr1", 15s)) << owner.output();
    const std::string as = "DBUS_SESSION_BUS_ADDRESS=unix:path=" + socket + " ";
    const std::string get =
        "busctl --user get-property org.porchlight.Nvr1 /org/porchlight/Nvr1 "
        "org.porchlight.Nvr1.Manager Version 2>&1";
    EXPECT_EQ(run(as + get), "s \"0.1.0\"\n");
    const std::string stranger =
        run(as + "setpriv --reuid=nobody --regid=nogroup --clear-groups " + get);
    EXPECT_NE(stranger.find("Access denied"), std::string::npos) << stranger;
    owner.signal(SIGTERM);
    owner.wait(10s);
    fs::remove_all(dir);
}

}  // namespace
