// node-postgres named queries ({name, text, values}: a named prepared statement per
// connection) from many concurrent clients; every result is checked. Needs `pg` from npm
// (npm ci in this folder).
'use strict';
const { Client } = require('pg');

const workers = Number(process.argv[2] || 8);
const iterations = Number(process.argv[3] || 40);

async function work(worker) {
  const client = new Client();  // PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
  await client.connect();
  try {
    for (let i = 0; i < iterations; ++i) {
      let result = await client.query({ name: 'twice', text: 'select $1::int * 2 + 1 as v', values: [i] });
      if (result.rows[0].v !== i * 2 + 1) throw new Error(`twice(${i}): got ${result.rows[0].v}`);
      result = await client.query({ name: 'mine', text: `select $1::text || '-w${worker}' as v`, values: [String(i)] });
      if (result.rows[0].v !== `${i}-w${worker}`) throw new Error(`mine(${i}): got ${result.rows[0].v}`);
      if (i % 5 === 0) {
        await client.query('begin');
        result = await client.query({ name: 'twice', text: 'select $1::int * 2 + 1 as v', values: [i + 100] });
        await client.query('commit');
        if (result.rows[0].v !== (i + 100) * 2 + 1) throw new Error(`transaction(${i}): got ${result.rows[0].v}`);
      }
    }
  } finally {
    await client.end();
  }
}

async function main() {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('not finished within 120 s')), 120000).unref());
  const results = await Promise.race([Promise.allSettled([...Array(workers).keys()].map(work)), timeout]);
  const failures = results.map((r, w) => (r.status === 'rejected' ? `worker ${w}: ${r.reason}` : null)).filter(Boolean);
  if (failures.length) {
    console.error('node_prepared: FAILED\n' + failures.slice(0, 20).join('\n'));
    process.exit(1);
  }
  console.log(`ok: node-postgres, ${workers} clients x ${iterations} iterations, every result right`);
}

main().catch((error) => {
  console.error(`node_prepared: FAILED\n${error.stack || error}`);
  process.exit(1);
});
