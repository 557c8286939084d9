ln f g
mkdir sub && ln f sub/h
