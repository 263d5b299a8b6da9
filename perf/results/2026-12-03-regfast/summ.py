import re,sys,glob
def parse(f):
    t=open(f).read()
    rows={}
    sec=t.split("### Registrations per second")[1].split("###")[0]
    for line in sec.splitlines():
        m=re.match(r"\| (\d+) \| (\d+) \| ([\d.]+) s \| \*\*(\d+)\*\* \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) / ([\d.]+) / ([\d.]+) \|",line)
        if m:
            b=int(m.group(1)); rows[b]=dict(rate=int(m.group(4)),us=float(m.group(5)),handle=float(m.group(6)),commit=float(m.group(7)),c50=float(m.group(11)),c99=float(m.group(12)))
    for m in re.finditer(r"B=(\d+): interrupts.*writer run delay ([\d.]+) ms",t):
        rows[int(m.group(1))]['delay']=float(m.group(2))
    return rows
files=sys.argv[1:]
print("| run | load avg (1 min) at start | B | accepted + durable /s | µs/request | handle µs/request | commit % | commit p50 / p99 µs | writer run delay ms (of ~3000) |")
print("|---|---|---:|---:|---:|---:|---:|---|---:|")
for f in files:
    r=parse(f+".md")
    load=open(f+".load").read().split("load average:")[1].split(",")[0].strip()
    for b in sorted(r):
        x=r[b]
        print(f"| {f} | {load} | {b} | {x['rate']} | {x['us']:.2f} | {x['us']*x['handle']/100:.2f} | {x['commit']:.1f} | {x['c50']:.0f} / {x['c99']:.0f} | {x.get('delay',0):.0f} |")
