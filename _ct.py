import time, torch, keras, os
t0=time.time(); c0=time.process_time()
from keras_apalu.fused import torch as ft
print("import", time.time()-t0)
for dt in os.environ.get("DTS","float32").split():
    t=time.time(); c=time.process_time()
    ft.kernel(dt,"cpu")
    print(dt, "wall %.1f cpu %.1f"%(time.time()-t, time.process_time()-c), flush=True)
