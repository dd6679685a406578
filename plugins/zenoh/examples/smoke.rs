use std::time::{Duration, Instant};
use plugbus_core::{Flow, Message, Plugin};
use plugbus_host_std::Host;
use plugbus_zenoh::{Config, Link, Net};

struct Count(u64, u64);
impl Plugin<Net<u64>> for Count {
    fn handle_message(&mut self, m: &Message<Net<u64>>) -> Flow {
        if m.is_remote() { assert_eq!(***m, self.1); self.1 += 1; }
        self.0 += 1; Flow::Continue
    }
}

fn main() {
    let n: u64 = std::env::args().nth(1).map(|a| a.parse().unwrap()).unwrap_or(100_000);
    let t = Instant::now();
    let b = Link::open(Config::new().key("smoke/b").subscribe("smoke/a").connect("tcp/127.0.0.1:17461")).unwrap();
    println!("b open (connect to nothing yet) {:?}", t.elapsed());
    let a = Link::open(Config::new().key("smoke/a").listen("tcp/127.0.0.1:17461")).unwrap();
    println!("a open {:?}", t.elapsed());
    let mut hb: Host<Net<u64>> = Host::new();
    let id = hb.attach(Count(0, 0)).unwrap();
    let s = hb.sender();
    let source = b.source::<u64, _>(move |batch| s.send_batch(batch)).unwrap();
    let ok = a.wait_for_subscribers(Duration::from_secs(10)).unwrap();
    println!("matching {ok} {:?}", t.elapsed());
    let mut ha: Host<Net<u64>> = Host::new();
    ha.attach(a.publisher::<u64>().unwrap()).unwrap();
    let t0 = Instant::now();
    ha.send_batch((0..n).map(Net::local)).unwrap();
    let r = source.wait_until(Duration::from_secs(60), |s| s.delivered == n);
    let el = t0.elapsed();
    println!("delivered {:?} in {:?}: {:.0}/s", r.as_ref().map(|s| s.delivered), el, n as f64 / el.as_secs_f64());
    let ra = ha.shutdown();
    println!("a reports {:?}", ra.iter().map(|r| r.stats.handled).collect::<Vec<_>>());
    let st = source.wait_until(Duration::from_secs(5), |s| s.origins.iter().all(|o| o.ended)).map_err(|e| e);
    println!("ended {:?}", st.map(|s| s.origins));
    let t1 = Instant::now();
    let fin = source.shutdown();
    println!("source shutdown {:?}: {fin:?}", t1.elapsed());
    println!("{:?}", hb.stats(id));
    hb.shutdown();
    println!("pub stats {:?}", a.publisher_stats());
    a.close().unwrap(); b.close().unwrap();
    println!("closed {:?}", t.elapsed());
}
