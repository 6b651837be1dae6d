// pgjdbc with prepareThreshold=1 (a named server-side statement from the first execution)
// from many threads, each on its own connection; every result is checked. Run as a
// single-file program: java -cp /usr/share/java/postgresql.jar PgjdbcPrepared.java
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

public class PgjdbcPrepared {
    static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? fallback : value;
    }

    static long one(PreparedStatement statement) throws Exception {
        try (ResultSet rows = statement.executeQuery()) {
            if (!rows.next()) throw new AssertionError("no row");
            return rows.getLong(1);
        }
    }

    public static void main(String[] args) throws Exception {
        int workers = args.length > 0 ? Integer.parseInt(args[0]) : 8;
        int iterations = args.length > 1 ? Integer.parseInt(args[1]) : 40;
        String url = "jdbc:postgresql://" + env("PGHOST", "127.0.0.1") + ":" + env("PGPORT", "5432") + "/"
                + env("PGDATABASE", "app") + "?prepareThreshold=1&sslmode=disable";
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < workers; ++w) {
            final int worker = w;
            Thread thread = new Thread(() -> {
                try (Connection conn = DriverManager.getConnection(url, env("PGUSER", "app"), env("PGPASSWORD", ""))) {
                    PreparedStatement twice = conn.prepareStatement("select ?::int * 2 + 1");
                    PreparedStatement mine = conn.prepareStatement("select ?::int + " + (1000 * worker));
                    for (int i = 0; i < iterations; ++i) {
                        twice.setInt(1, i);
                        long got = one(twice);
                        if (got != i * 2 + 1) throw new AssertionError("i*2+1 for " + i + ": got " + got);
                        mine.setInt(1, i);
                        got = one(mine);
                        if (got != i + 1000L * worker) throw new AssertionError("worker statement for " + i + ": got " + got);
                        if (i % 5 == 0) {  // a transaction of prepared statements
                            conn.setAutoCommit(false);
                            twice.setInt(1, i + 100);
                            got = one(twice);
                            conn.commit();
                            conn.setAutoCommit(true);
                            if (got != (i + 100) * 2 + 1) throw new AssertionError("transaction for " + i + ": got " + got);
                        }
                    }
                } catch (Throwable error) {
                    failures.add("worker " + worker + ": " + error);
                }
            });
            threads.add(thread);
            thread.start();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        for (Thread thread : threads) {
            thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            if (thread.isAlive()) failures.add("a worker did not finish within 120 s");
        }
        if (!failures.isEmpty()) {
            System.err.println("PgjdbcPrepared: FAILED");
            failures.stream().limit(20).forEach(System.err::println);
            System.exit(1);
        }
        System.out.println("ok: pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_VERSION + ", " + workers + " threads x "
                + iterations + " iterations, every result right");
        System.exit(0);
    }
}
