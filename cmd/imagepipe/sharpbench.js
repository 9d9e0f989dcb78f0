'use strict';
// The measuring stick for `imagepipe bench`: sharp (libvips, what AWS's image
// handler runs) making the same variants, warm, in one process. Never a
// dependency of the functions; make bench installs sharp into .bench/.
//
// usage: node sharpbench.js MODE RUNS VARIANTS_JSON OUT_DIR PHOTO
//   MODE cascade:    decode once at the largest variant's size, make every
//                    other variant from that (sharp used well for this job)
//   MODE pervariant: one pipeline from the file per variant (shrink-on-load
//                    each time), as a per-request image handler works
// Prints "warm cpu_us=N wall_us=N runs=N": medians over RUNS after a first run
// that writes OUT_DIR/<photo>_<variant>.jpg.
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

const [mode, runsArg, variantsJSON, outDir, photo] = process.argv.slice(2);
if (!photo || !['cascade', 'pervariant'].includes(mode)) {
  console.error('usage: node sharpbench.js cascade|pervariant RUNS VARIANTS_JSON OUT_DIR PHOTO');
  process.exit(2);
}
sharp.concurrency(Number(process.env.VIPS_CONCURRENCY || 1));
sharp.cache(false); // every run decodes from the bytes, like a fresh request
const variants = JSON.parse(variantsJSON);
const input = fs.readFileSync(photo);
const base = path.basename(photo, path.extname(photo));

function box(v) {
  return {
    width: v.width || null,
    height: v.height || null,
    fit: v.fit === 'cover' ? 'cover' : 'inside',
    position: 'centre',
    withoutEnlargement: true,
    kernel: 'lanczos3',
  };
}
const quality = (v) => ({ quality: v.quality || 82 });
const area = (v) => (v.width || v.height) * (v.height || v.width);

async function perVariant() {
  const outs = [];
  for (const v of variants) {
    outs.push([v, await sharp(input).rotate().resize(box(v)).jpeg(quality(v)).toBuffer()]);
  }
  return outs;
}

async function cascade() {
  const largest = variants.reduce((a, b) => (area(b) > area(a) ? b : a));
  const { data, info } = await sharp(input).rotate().resize(box(largest)).raw().toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
  const outs = [];
  for (const v of variants) {
    const img = sharp(data, raw);
    if (v !== largest) img.resize(box(v));
    outs.push([v, await img.jpeg(quality(v)).toBuffer()]);
  }
  return outs;
}

function cpuUS() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

(async () => {
  const run = mode === 'cascade' ? cascade : perVariant;
  fs.mkdirSync(outDir, { recursive: true });
  for (const [v, buf] of await run()) {
    fs.writeFileSync(path.join(outDir, `${base}_${v.name}.jpg`), buf);
  }
  const runs = Number(runsArg);
  const cpu = [], wall = [];
  for (let i = 0; i < runs; i++) {
    const c0 = cpuUS(), t0 = process.hrtime.bigint();
    await run();
    wall.push(Number((process.hrtime.bigint() - t0) / 1000n));
    cpu.push(cpuUS() - c0);
  }
  const med = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const hwm = /VmHWM:\s*(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  console.log(`warm cpu_us=${med(cpu)} wall_us=${med(wall)} runs=${runs} rss_kb=${hwm ? hwm[1] : 0}`);
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
