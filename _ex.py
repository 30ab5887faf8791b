import time, torch, keras
from keras_apalu import ops as o
x=torch.randn(64,32); a=torch.rand(1,32)
for fn, args in [(o._forward_select_free,(x,a,a)), (o._apalu_vjp_rows,(x,a,a,x))]:
    t=time.process_time()
    e=torch._dynamo.explain(fn)(*args)
    print(fn.__name__, e.graph_count, e.graph_break_count, [str(b.reason)[:150] for b in e.break_reasons], time.process_time()-t)
